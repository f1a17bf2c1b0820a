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

public sealed class IngestOptions
{
    /// <summary>Chunks embedded and written to the index together.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// The prompt layout's chunk separator. When set, a chunk's cache is of its text and the
    /// separator tokenized together, as <see cref="PromptLayout"/> puts it into a prompt (so a query
    /// hits it); when null, of the chunk's own tokens.
    /// </summary>
    public string? ChunkSeparator { get; init; }
}
