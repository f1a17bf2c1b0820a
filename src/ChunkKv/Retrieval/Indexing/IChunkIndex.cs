using System.Text.Json.Nodes;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// Where chunks are indexed and searched: collections of documents, each document's chunks with
/// their embeddings. Two providers (PostgreSQL + pgvector, and an embedded exact index) pass the
/// same contract tests. A document is searchable only after <see cref="MarkReadyAsync"/>, so a
/// crash half-way through ingestion never shows half a document; chunks already added survive it
/// and are reported by <see cref="IndexedOrdinalsAsync"/> so ingestion can resume.
/// </summary>
public interface IChunkIndex
{
    /// <summary>"pgvector" or "embedded".</summary>
    string Provider { get; }

    /// <summary>Creates the collection, or returns it when it exists with the same embedder and dimension.</summary>
    /// <param name="settings">Kept when the collection is created; when given for one that exists, it must be the same (null: whatever it has).</param>
    /// <exception cref="CollectionMismatchException">It exists with another embedder, dimension or settings.</exception>
    Task<CollectionInfo> EnsureCollectionAsync(string name, string embedder, int dimension, CollectionSettings? settings = null,
        CancellationToken cancellationToken = default);

    Task<CollectionInfo?> GetCollectionAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every collection, by name.</summary>
    Task<IReadOnlyList<CollectionInfo>> ListCollectionsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the collection with every document and chunk in it; reports the cache keys that no
    /// chunk left in the index uses. <see cref="DeleteResult.Found"/> is false when there was none.
    /// </summary>
    Task<DeleteResult> DeleteCollectionAsync(string name, CancellationToken cancellationToken = default);

    Task<DocumentInfo?> GetDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default);

    /// <summary>
    /// One page of the collection's documents (ready or still ingesting) in ordinal order of their
    /// ids: at most <paramref name="limit"/> of those after <paramref name="after"/> (all when null).
    /// </summary>
    Task<IReadOnlyList<DocumentInfo>> ListDocumentsAsync(string collection, string? after, int limit,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a document as being ingested; a no-op when it is already recorded with the same
    /// content hash (a resumed or repeated ingestion).
    /// </summary>
    /// <exception cref="InvalidOperationException">It is recorded with other content: delete it first.</exception>
    Task BeginDocumentAsync(string collection, string externalId, byte[] contentHash, JsonObject metadata,
        CancellationToken cancellationToken = default);

    /// <summary>Adds chunks to a document being ingested; a chunk whose ordinal is already there is left as it is.</summary>
    Task AddChunksAsync(string collection, string externalId, IReadOnlyList<IndexedChunk> chunks, CancellationToken cancellationToken = default);

    Task<IReadOnlySet<int>> IndexedOrdinalsAsync(string collection, string externalId, CancellationToken cancellationToken = default);

    /// <summary>Makes the document searchable.</summary>
    /// <exception cref="InvalidOperationException">It does not hold exactly <paramref name="chunkCount"/> chunks.</exception>
    Task MarkReadyAsync(string collection, string externalId, int chunkCount, CancellationToken cancellationToken = default);

    /// <summary>Removes the document and its chunks; reports the cache keys that no chunk in the index uses any more.</summary>
    Task<DeleteResult> DeleteDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default);

    /// <summary>Whether any chunk in the index, in any collection or state, uses this cache key.</summary>
    Task<bool> IsCacheKeyReferencedAsync(byte[] cacheKey, CancellationToken cancellationToken = default);

    /// <summary>
    /// Holds a lock on one cache key for every process that shares this index, until disposed.
    /// Ingestion's "is it stored? else compute and store" and deletion's "is it still used? else
    /// remove" both run under it, so a cache that another document has just started to use is
    /// never removed from under it.
    /// </summary>
    Task<IAsyncDisposable> LockCacheKeyAsync(byte[] cacheKey, CancellationToken cancellationToken = default);

    /// <summary>
    /// The chunks of a ready document at the given ordinals (those it has), in ordinal order, scored 0:
    /// the neighbours a query adds to its hits (a chunk that opens with "They" is found only through
    /// the one before it). None when the document is not there or not ready.
    /// </summary>
    Task<IReadOnlyList<SearchHit>> GetChunksAsync(string collection, string documentId, IReadOnlyCollection<int> ordinals,
        CancellationToken cancellationToken = default);

    /// <summary>The best chunks of ready documents for the request, best first.</summary>
    Task<IReadOnlyList<SearchHit>> SearchAsync(string collection, SearchRequest request, CancellationToken cancellationToken = default);
}

/// <param name="Settings">As created; <see cref="CollectionSettings.None"/> when created without.</param>
public sealed record CollectionInfo(string Name, string Embedder, int Dimension, CollectionSettings Settings)
{
    /// <summary>Refuses to ensure a collection that exists with other settings than asked for (null asks for none in particular).</summary>
    internal void CheckSettings(CollectionSettings? settings)
    {
        if (settings is not null && settings != Settings)
        {
            throw new CollectionMismatchException($"collection '{Name}' exists with settings {Settings.ToJson()}, not {settings.ToJson()}");
        }
    }

    /// <summary>Refuses a vector of another length than the collection holds, naming <paramref name="what"/>.</summary>
    public void CheckDimension(float[] vector, string what)
    {
        if (vector.Length != Dimension)
        {
            throw new ArgumentException($"{what} has {vector.Length} dimensions; collection '{Name}' holds {Dimension}");
        }
    }
}

public enum DocumentStatus
{
    Ingesting,
    Ready,
}

public sealed record DocumentInfo(string ExternalId, byte[] ContentHash, JsonObject Metadata, DocumentStatus Status, int ChunkCount);

/// <param name="CacheKey">Content address of the chunk's KV cache (<c>ChunkCacheKey</c> bytes).</param>
/// <param name="Embedding">Unit length, of the collection's dimension.</param>
public sealed record IndexedChunk(int Ordinal, int CharStart, int CharEnd, string Content, int TokenCount, byte[] CacheKey, float[] Embedding);

public sealed record SearchHit(string DocumentId, int Ordinal, int CharStart, int CharEnd, string Content, int TokenCount,
    byte[] CacheKey, double Score, JsonObject Metadata);

/// <param name="Found">Whether the document existed.</param>
/// <param name="OrphanedCacheKeys">Cache keys of its chunks that no remaining chunk shares: their stored caches can go.</param>
public sealed record DeleteResult(bool Found, IReadOnlyList<byte[]> OrphanedCacheKeys);

/// <summary>No collection of that name.</summary>
public sealed class CollectionNotFoundException(string name) : Exception($"collection '{name}' does not exist")
{
    public string Collection { get; } = name;
}

/// <summary>A collection exists with another embedder or dimension than asked for.</summary>
public sealed class CollectionMismatchException(string message) : Exception(message);
