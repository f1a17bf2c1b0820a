using System.Text.Json.Nodes;
using ChunkKv.Chunking;

namespace ChunkKv.Pipeline;

/// <param name="ExternalId">The caller's id of the document, unique within its collection.</param>
public sealed record DocumentInput(string ExternalId, string Text, DocumentFormat Format = DocumentFormat.PlainText, JsonObject? Metadata = null);

public enum IngestOutcome
{
    /// <summary>New, and now searchable.</summary>
    Ingested,

    /// <summary>Already there with the same content and settings: nothing was done.</summary>
    Unchanged,

    /// <summary>An earlier ingestion of the same content was interrupted; only what was missing was done.</summary>
    Resumed,

    /// <summary>There with other content (or settings): the old version was removed and the new one ingested.</summary>
    Replaced,
}

public enum IngestStage
{
    Indexing,
    Caching,
}

/// <summary>Progress of one document: <paramref name="Done"/> of <paramref name="Total"/> chunks through the stage.</summary>
public sealed record IngestProgress(string DocumentId, IngestStage Stage, int Done, int Total);

/// <param name="Tokens">Tokens over the document's chunks; 0 when <see cref="IngestOutcome.Unchanged"/> (the text was not read).</param>
/// <param name="Embedded">Chunks embedded and indexed by this call (fewer than all when resuming).</param>
/// <param name="CachesComputed">Chunk caches computed by this call; identical chunks and caches already stored are computed once.</param>
public sealed record IngestResult(string DocumentId, IngestOutcome Outcome, int Chunks, int Tokens, int Embedded, int CachesComputed,
    TimeSpan Elapsed);

/// <summary>Taking a turn on the engine for one piece of ingestion's compute (<see cref="IngestOptions.Slice"/>).</summary>
internal static class EngineTurns
{
    /// <summary>The turn <paramref name="slice"/> gives, released when disposed; with no slice, nothing to wait for.</summary>
    public static async Task<IAsyncDisposable> TakeAsync(Func<CancellationToken, Task<IAsyncDisposable>>? slice, CancellationToken cancellationToken) =>
        slice is null ? None.Instance : await slice(cancellationToken);

    private sealed class None : IAsyncDisposable
    {
        public static None Instance { get; } = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class IngestOptions
{
    public static IngestOptions Default { get; } = new();

    /// <summary>Chunks embedded and written to the index together.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// Compute and store each chunk's cache (the default). Without, a document is only indexed: a
    /// query computes its caches on the spot. For measuring retrieval and indexing alone.
    /// </summary>
    public bool StoreCaches { get; init; } = true;

    /// <summary>
    /// Taken around each piece of compute (an embedding batch, a chunk's cache) and released after it:
    /// a server's turn on its engine, so queries need not wait for a whole document. Null: no turns.
    /// </summary>
    public Func<CancellationToken, Task<IAsyncDisposable>>? Slice { get; init; }
}
