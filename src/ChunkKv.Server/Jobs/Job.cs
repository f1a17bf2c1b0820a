using System.Text.Json.Nodes;
using ChunkKv.Evaluation;
using ChunkKv.Pipeline;

namespace ChunkKv.Server.Jobs;

public enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

public enum JobKind
{
    /// <summary>A document's ingestion.</summary>
    Ingest,

    /// <summary>A collection's calibration of the fusion methods (<c>POST /v1/collections/{c}/calibrate</c>).</summary>
    Calibrate,
}

/// <summary>
/// Work in the background: a document's ingestion or a collection's calibration; what to do, where
/// it stands, how it ended. Saved as JSON in the jobs folder on every change of state (and every so
/// often while it runs), so a restarted server finds its unfinished jobs and runs them again; the
/// ingestion pipeline resumes from what the interrupted run already indexed and stored, a
/// calibration starts over.
/// </summary>
public sealed class Job
{
    public required string Id { get; init; }

    /// <summary>Jobs written before calibrations existed have no kind: they are ingestions.</summary>
    public JobKind Kind { get; init; } = JobKind.Ingest;

    /// <summary>The tenant that asked; another tenant never sees the job.</summary>
    public required string Tenant { get; init; }

    /// <summary>The collection as the tenant names it, and as it is stored (with the tenant's prefix).</summary>
    public required string Collection { get; init; }
    public required string StoredCollection { get; init; }

    /// <summary>Ingestion: the document, its format and metadata.</summary>
    public string? DocumentId { get; init; }
    public string? Format { get; init; }
    public JsonObject? Metadata { get; init; }

    /// <summary>The document's text until the job has ended; dropped then, as the index holds the chunks.</summary>
    public string? Text { get; set; }

    /// <summary>Calibration: what was asked for.</summary>
    public CalibrationRequest? Calibration { get; init; }

    public JobState State { get; set; }

    /// <summary>"indexing" or "caching" (ingestion), "calibrating" (calibration).</summary>
    public string? Stage { get; set; }
    public int Done { get; set; }
    public int Total { get; set; }
    public string? Error { get; set; }

    /// <summary>Runs that failed for a passing reason (a store down) and were queued again.</summary>
    public int Retries { get; set; }
    public IngestResult? Result { get; set; }

    /// <summary>Calibration: its outcome, also recorded for the collection.</summary>
    public CalibrationResult? Calibrated { get; set; }
    public bool CancelRequested { get; set; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

/// <summary>A calibration's settings (each checked by the endpoint).</summary>
/// <param name="Prompts">Prompts sampled from the collection's chunks; each also runs in <paramref name="Orders"/> - 1 other chunk orders.</param>
/// <param name="ChunksPerPrompt">Consecutive chunks of one document per prompt.</param>
/// <param name="Questions">Questions asked of the prompts in turn (a sample of real traffic is best); none: a question about a name in the chunks.</param>
public sealed record CalibrationRequest(int Prompts, int Orders, int ChunksPerPrompt, double Agreement, double MeanKl, IReadOnlyList<string>? Questions);
