using System.Text.Json.Nodes;
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

/// <summary>
/// One document's ingestion in the background: what to ingest, where it stands, how it ended.
/// Saved as JSON in the jobs folder on every change of state (and every so often while it runs),
/// so a restarted server finds its unfinished jobs and runs them again; the ingestion pipeline
/// resumes from what the interrupted run already indexed and stored.
/// </summary>
public sealed class IngestJob
{
    public required string Id { get; init; }

    /// <summary>The tenant that asked; another tenant never sees the job.</summary>
    public required string Tenant { get; init; }

    /// <summary>The collection as the tenant names it, and as it is stored (with the tenant's prefix).</summary>
    public required string Collection { get; init; }
    public required string StoredCollection { get; init; }
    public required string DocumentId { get; init; }
    public required string Format { get; init; }
    public JsonObject? Metadata { get; init; }

    /// <summary>The document's text until the job has ended; dropped then, as the index holds the chunks.</summary>
    public string? Text { get; set; }

    public JobState State { get; set; }
    public IngestStage? Stage { get; set; }
    public int Done { get; set; }
    public int Total { get; set; }
    public string? Error { get; set; }

    /// <summary>Runs that failed for a passing reason (a store down) and were queued again.</summary>
    public int Retries { get; set; }
    public IngestResult? Result { get; set; }
    public bool CancelRequested { get; set; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}
