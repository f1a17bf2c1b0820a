using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// The no-server provider: every vector in memory, searched exactly (one SIMD dot product per
/// chunk of the collection), persisted in a folder as a checksummed journal (<see cref="IndexJournal"/>)
/// that is rewritten from the live state when deleted chunks make up most of it. Text ranking for hybrid search
/// is BM25 over the same words. Meant for one process; for many workers use pgvector.
/// </summary>
public sealed class EmbeddedChunkIndex : IChunkIndex, IDisposable
{
    private const int CompactAboveBytes = 1 << 20;

    private readonly ReaderWriterLockSlim _lock = new();
    private readonly EmbeddedState _state = new();
    private readonly IndexJournal _journal;
    private readonly CacheKeyLocks _keyLocks = new();

    private readonly ILogger _logger;

    private EmbeddedChunkIndex(string folder, ILogger logger)
    {
        _logger = logger;
        _journal = IndexJournal.Open(folder, _state.Apply, message => logger.LogWarning("{Message}", message));
    }

    /// <summary>Opens the index kept in <paramref name="folder"/>, creating it when empty.</summary>
    public static EmbeddedChunkIndex Open(string folder, ILogger<EmbeddedChunkIndex>? logger = null) =>
        new(folder, logger ?? NullLogger<EmbeddedChunkIndex>.Instance);

    public string Provider => "embedded";

    /// <summary>Bytes in the journal file, live and superseded.</summary>
    public long JournalBytes => Read(() => _journal.Length);

    public Task<CollectionInfo> EnsureCollectionAsync(string name, string embedder, int dimension, CollectionSettings? settings = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        return Task.FromResult(Write(() =>
        {
            if (!_state.Collections.TryGetValue(name, out var collection))
            {
                Commit(Record.Collection(new CollectionInfo(name, embedder, dimension, settings ?? CollectionSettings.None)));
                return _state.Collections[name].Info;
            }
            var info = collection.Info;
            if (info.Embedder != embedder || info.Dimension != dimension)
            {
                throw new CollectionMismatchException(
                    $"collection '{name}' holds {info.Dimension}-dimensional vectors of '{info.Embedder}', not {dimension} of '{embedder}'");
            }
            info.CheckSettings(settings);
            return info;
        }));
    }

    public Task<CollectionInfo?> GetCollectionAsync(string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(Read(() => _state.Collections.GetValueOrDefault(name)?.Info));

    public Task<IReadOnlyList<CollectionInfo>> ListCollectionsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<CollectionInfo>>(Read(() => _state.Collections.Values.Select(c => c.Info)
            .OrderBy(c => c.Name, StringComparer.Ordinal).ToList()));

    public Task<DeleteResult> DeleteCollectionAsync(string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(Write(() =>
        {
            if (!_state.Collections.TryGetValue(name, out var collection))
            {
                return new DeleteResult(false, []);
            }
            var keys = collection.Documents.Values.SelectMany(d => d.Chunks.Values).Select(e => e.Chunk.CacheKey)
                .DistinctBy(Convert.ToBase64String).ToList();
            Commit(Record.Drop(name));
            var orphaned = keys.Where(k => !_state.CacheKeyUses.ContainsKey(Convert.ToBase64String(k))).ToList();
            CompactIfMostlyDead();
            return new DeleteResult(true, orphaned);
        }));

    public Task<DocumentInfo?> GetDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Read(() => Collection(collection).Documents.GetValueOrDefault(externalId) is { } d ? Info(externalId, d) : null));

    public Task<IReadOnlyList<DocumentInfo>> ListDocumentsAsync(string collection, string? after, int limit,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return Task.FromResult<IReadOnlyList<DocumentInfo>>(Read(() => Collection(collection).Documents
            .Where(d => after is null || string.CompareOrdinal(d.Key, after) > 0)
            .OrderBy(d => d.Key, StringComparer.Ordinal).Take(limit).Select(d => Info(d.Key, d.Value)).ToList()));
    }

    private static DocumentInfo Info(string externalId, DocumentState d) =>
        new(externalId, d.ContentHash, d.Metadata.DeepClone().AsObject(),
            d.Ready ? DocumentStatus.Ready : DocumentStatus.Ingesting, d.Ready ? d.Chunks.Count : 0);

    public Task BeginDocumentAsync(string collection, string externalId, byte[] contentHash, JsonObject metadata,
        CancellationToken cancellationToken = default)
    {
        Write(() =>
        {
            if (Collection(collection).Documents.TryGetValue(externalId, out var existing))
            {
                return existing.ContentHash.AsSpan().SequenceEqual(contentHash)
                    ? 0
                    : throw new InvalidOperationException($"document '{externalId}' is already in '{collection}' with other content; delete it first");
            }
            Commit(Record.Begin(collection, externalId, contentHash, metadata));
            return 0;
        });
        return Task.CompletedTask;
    }

    public Task AddChunksAsync(string collection, string externalId, IReadOnlyList<IndexedChunk> chunks,
        CancellationToken cancellationToken = default)
    {
        Write(() =>
        {
            var state = Collection(collection);
            var document = Document(state, collection, externalId);
            foreach (var chunk in chunks)
            {
                state.Info.CheckDimension(chunk.Embedding, $"chunk {chunk.Ordinal}'s embedding");
            }
            var added = chunks.Where(c => !document.Chunks.ContainsKey(c.Ordinal)).ToList();
            if (added.Count > 0)
            {
                Commit(Record.Chunks(collection, externalId, added));
            }
            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<IReadOnlySet<int>> IndexedOrdinalsAsync(string collection, string externalId, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlySet<int>>(Read(() =>
            Document(Collection(collection), collection, externalId).Chunks.Keys.ToHashSet()));

    public Task MarkReadyAsync(string collection, string externalId, int chunkCount, CancellationToken cancellationToken = default)
    {
        Write(() =>
        {
            var document = Collection(collection).Documents.GetValueOrDefault(externalId);
            if (document is null || document.Chunks.Count != chunkCount)
            {
                throw new InvalidOperationException(
                    $"document '{externalId}' in '{collection}' does not exist or does not hold {chunkCount} chunks; it stays invisible");
            }
            if (!document.Ready)
            {
                Commit(Record.Ready(collection, externalId, chunkCount));
            }
            return 0;
        });
        return Task.CompletedTask;
    }

    public Task<DeleteResult> DeleteDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Write(() =>
        {
            if (!Collection(collection).Documents.TryGetValue(externalId, out var document))
            {
                return new DeleteResult(false, []);
            }
            var keys = document.Chunks.Values.Select(e => e.Chunk.CacheKey).DistinctBy(Convert.ToBase64String).ToList();
            Commit(Record.Delete(collection, externalId));
            var orphaned = keys.Where(k => !_state.CacheKeyUses.ContainsKey(Convert.ToBase64String(k))).ToList();
            CompactIfMostlyDead();
            return new DeleteResult(true, orphaned);
        }));

    public Task<bool> IsCacheKeyReferencedAsync(byte[] cacheKey, CancellationToken cancellationToken = default) =>
        Task.FromResult(Read(() => _state.CacheKeyUses.ContainsKey(Convert.ToBase64String(cacheKey))));

    /// <summary>One process uses this index, so an in-process lock per key is every lock there is.</summary>
    public Task<IAsyncDisposable> LockCacheKeyAsync(byte[] cacheKey, CancellationToken cancellationToken = default) =>
        _keyLocks.AcquireAsync(cacheKey, cancellationToken);

    public Task<IReadOnlyList<SearchHit>> GetChunksAsync(string collection, string documentId, IReadOnlyCollection<int> ordinals,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ordinals);
        return Task.FromResult<IReadOnlyList<SearchHit>>(Read(() =>
            Collection(collection).Documents.GetValueOrDefault(documentId) is { Ready: true } document
                ? document.Chunks.Where(c => ordinals.Contains(c.Key))
                    .Select(c => new Ranked(documentId, document, c.Value, 0).Hit(0)).ToList()
                : []));
    }

    public Task<IReadOnlyList<SearchHit>> SearchAsync(string collection, SearchRequest request, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<SearchHit>>(Read(() => Search(Collection(collection), request)));

    private static List<SearchHit> Search(CollectionState collection, SearchRequest request)
    {
        request.Validate(collection.Info);
        var query = request.Vector;
        var queryNorm = TensorPrimitives.Norm(query);
        var visible = collection.Documents.Where(d => d.Value.Ready && d.Value.Matches(request.Filter)).ToList();
        var pool = request.Mode == SearchMode.Hybrid ? request.CandidatePool : request.Limit;

        var byVector = Top(visible, pool, entry => TensorPrimitives.Dot(entry.Chunk.Embedding, query) / queryNorm);
        if (request.Mode == SearchMode.Vector)
        {
            return byVector.Select(r => r.Hit(r.Score)).ToList();
        }
        var terms = TextTerms.Words(request.Text!).Distinct().ToList();
        var byText = Top(visible, pool, entry => collection.Text.Score(terms, entry.Terms)).Where(r => r.Score > 0).ToList();
        var candidates = byVector.Concat(byText).DistinctBy(r => r.Entry.Sequence).ToDictionary(r => r.Entry.Sequence);
        return ReciprocalRankFusion.Fuse([byVector.Select(r => r.Entry.Sequence).ToList(), byText.Select(r => r.Entry.Sequence).ToList()], request.Limit)
            .Select(f => candidates[f.Key].Hit(f.Score)).ToList();
    }

    private sealed record Ranked(string DocumentId, DocumentState Document, ChunkEntry Entry, double Score)
    {
        public SearchHit Hit(double score)
        {
            var c = Entry.Chunk;
            return new SearchHit(DocumentId, c.Ordinal, c.CharStart, c.CharEnd, c.Content, c.TokenCount, c.CacheKey, score,
                Document.Metadata.DeepClone().AsObject());
        }
    }

    /// <summary>The <paramref name="count"/> best chunks by <paramref name="score"/>, best first, ties in insertion order.</summary>
    private static List<Ranked> Top(List<KeyValuePair<string, DocumentState>> documents, int count, Func<ChunkEntry, double> score)
    {
        var best = new PriorityQueue<Ranked, (double, long)>();
        foreach (var (id, document) in documents)
        {
            foreach (var entry in document.Chunks.Values)
            {
                var value = score(entry);
                // The heap keeps the worst on top: lower score, then later insertion, is worse.
                best.Enqueue(new Ranked(id, document, entry, value), (value, -entry.Sequence));
                if (best.Count > count)
                {
                    best.Dequeue();
                }
            }
        }
        var ranked = new List<Ranked>(best.Count);
        while (best.Count > 0)
        {
            ranked.Add(best.Dequeue());
        }
        ranked.Reverse();
        return ranked;
    }

    private CollectionState Collection(string name) =>
        _state.Collections.GetValueOrDefault(name) ?? throw new CollectionNotFoundException(name);

    private static DocumentState Document(CollectionState collection, string name, string externalId) =>
        collection.Documents.GetValueOrDefault(externalId)
        ?? throw new InvalidOperationException($"document '{externalId}' has not been begun in '{name}'");

    /// <summary>Writes the record durably, then applies it: what is in memory is always on disk.</summary>
    private void Commit(JsonObject record)
    {
        _journal.Append([record]);
        _state.Apply(record);
    }

    /// <summary>Rewrites the journal from the live state once deleted chunks are most of the chunks it holds.</summary>
    private void CompactIfMostlyDead()
    {
        if (_journal.Length < CompactAboveBytes || _state.LiveChunks * 2 >= _state.JournalChunks)
        {
            return;
        }
        try
        {
            _journal.Rewrite(_state.Snapshot());
            _state.JournalChunks = _state.LiveChunks;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Compaction only saves space: the change that triggered it is already durable in the old journal.
            _logger.LogWarning("Compacting {Journal} failed ({Error}); the old journal stays in use", IndexJournal.FileName, e.Message);
        }
    }

    /// <summary>The journal, for tests that make its compaction fail.</summary>
    internal IndexJournal Journal => _journal;

    private T Read<T>(Func<T> action)
    {
        _lock.EnterReadLock();
        try
        {
            return action();
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private T Write<T>(Func<T> action)
    {
        _lock.EnterWriteLock();
        try
        {
            return action();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    public void Dispose()
    {
        _journal.Dispose();
        _lock.Dispose();
    }
}
