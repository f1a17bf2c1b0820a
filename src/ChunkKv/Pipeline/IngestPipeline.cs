using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ChunkKv.Caching;
using ChunkKv.Chunking;
using ChunkKv.Inference.Models;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Pipeline;

/// <summary>
/// Documents in: chunk ▸ embed ▸ index ▸ precompute each chunk's KV cache ▸ store, then the
/// document is made searchable. Idempotent: the document's content hash covers its text and
/// every setting that shapes the result, so ingesting it again does nothing. Resumable: chunks
/// already indexed and caches already stored by an interrupted run are not done again, and a
/// document is searchable only once all of it is there.
/// </summary>
public sealed class IngestPipeline(Chunker chunker, IEmbedder embedder, IChunkIndex index, ChunkCacheKeys keys,
    KvPrecomputer? precomputer = null, IngestOptions? options = null)
{
    private readonly IngestOptions _options = options ?? new IngestOptions();

    public IChunkIndex Index => index;

    public async Task<IngestResult> IngestAsync(string collection, DocumentInput document, IProgress<IngestProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(document.ExternalId);
        ArgumentNullException.ThrowIfNull(document.Text);
        var clock = Stopwatch.StartNew();
        await index.EnsureCollectionAsync(collection, embedder.Name, embedder.Dimension, cancellationToken: cancellationToken);
        var hash = ContentHash(document);

        var existing = await index.GetDocumentAsync(collection, document.ExternalId, cancellationToken);
        var outcome = IngestOutcome.Ingested;
        IReadOnlyList<byte[]> orphaned = [];
        if (existing is not null && existing.ContentHash.AsSpan().SequenceEqual(hash))
        {
            if (existing.Status == DocumentStatus.Ready)
            {
                return new IngestResult(document.ExternalId, IngestOutcome.Unchanged, existing.ChunkCount, 0, 0, 0, clock.Elapsed);
            }
            outcome = IngestOutcome.Resumed;
        }
        else if (existing is not null)
        {
            orphaned = (await index.DeleteDocumentAsync(collection, document.ExternalId, cancellationToken)).OrphanedCacheKeys;
            outcome = IngestOutcome.Replaced;
        }

        var chunks = chunker.Split(document.Text, document.Format);
        await index.BeginDocumentAsync(collection, document.ExternalId, hash, document.Metadata ?? [], cancellationToken);
        var cacheTokens = chunks.Select(CacheTokens).ToArray();
        var chunkKeys = cacheTokens.Select(ids => keys.Of(ids)).ToArray();
        var embedded = await IndexMissingAsync(collection, document.ExternalId, chunks, chunkKeys, progress, cancellationToken);

        var computed = 0;
        if (precomputer is not null)
        {
            var distinct = chunkKeys.Zip(cacheTokens, (key, ids) => (key, ids)).DistinctBy(c => c.key).ToList();
            // A cache that reaches no tier throws here: the document stays unfinished (not ready), and
            // the next ingest of it resumes and computes what is missing.
            computed = await precomputer.EnsureAsync(distinct,
                done => progress?.Report(new IngestProgress(document.ExternalId, IngestStage.Caching, done, distinct.Count)),
                (key, ct) => index.LockCacheKeyAsync(key.ToBytes(), ct), cancellationToken);
        }
        await index.MarkReadyAsync(collection, document.ExternalId, chunks.Count, cancellationToken);

        // Caches the old version alone used; the new version may use some of them again.
        var kept = chunkKeys.ToHashSet();
        await RemoveCachesAsync(orphaned.Where(k => !kept.Contains(ChunkCacheKey.FromBytes(k))), cancellationToken);
        return new IngestResult(document.ExternalId, outcome, chunks.Count, chunks.Sum(c => c.TokenIds.Length), embedded, computed,
            clock.Elapsed);
    }

    /// <summary>The tokens a chunk's cache holds: with the layout's separator when there is one (<see cref="IngestOptions.ChunkSeparator"/>).</summary>
    private int[] CacheTokens(TextChunk chunk) => _options.ChunkSeparator is { } separator
        ? chunker.Tokenizer.Encode(chunk.Text + separator, addSpecialTokens: false)
        : chunk.TokenIds;

    /// <summary>Removes a document from the index and the caches that no other chunk uses; false when there was none.</summary>
    public async Task<bool> DeleteAsync(string collection, string externalId, CancellationToken cancellationToken = default)
    {
        var deleted = await index.DeleteDocumentAsync(collection, externalId, cancellationToken);
        await RemoveCachesAsync(deleted.OrphanedCacheKeys, cancellationToken);
        return deleted.Found;
    }

    /// <summary>Deletes the collection with its documents, and the stored caches no other chunk uses; false when there was none.</summary>
    public async Task<bool> DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default)
    {
        var deleted = await index.DeleteCollectionAsync(collection, cancellationToken);
        await RemoveCachesAsync(deleted.OrphanedCacheKeys, cancellationToken);
        return deleted.Found;
    }

    private async Task RemoveCachesAsync(IEnumerable<byte[]> keys, CancellationToken cancellationToken)
    {
        if (precomputer is null)
        {
            return; // this pipeline stores no caches; whoever does owns their removal
        }
        foreach (var key in keys)
        {
            // Checked again under the key's lock: another document may have taken the same chunk
            // since the delete listed it, and its ingestion may already have found the cache stored.
            await using var held = await index.LockCacheKeyAsync(key, cancellationToken);
            if (!await index.IsCacheKeyReferencedAsync(key, cancellationToken))
            {
                await precomputer.Store.RemoveAsync(ChunkCacheKey.FromBytes(key), cancellationToken);
            }
        }
    }

    private async Task<int> IndexMissingAsync(string collection, string externalId, IReadOnlyList<TextChunk> chunks,
        ChunkCacheKey[] chunkKeys, IProgress<IngestProgress>? progress, CancellationToken cancellationToken)
    {
        var indexed = await index.IndexedOrdinalsAsync(collection, externalId, cancellationToken);
        var missing = chunks.Where(c => !indexed.Contains(c.Ordinal)).ToList();
        var done = chunks.Count - missing.Count;
        progress?.Report(new IngestProgress(externalId, IngestStage.Indexing, done, chunks.Count));
        foreach (var batch in missing.Chunk(_options.BatchSize))
        {
            var vectors = await embedder.EmbedAsync(batch.Select(c => c.Text).ToArray(), cancellationToken);
            var rows = batch.Select((c, i) => new IndexedChunk(c.Ordinal, c.CharStart, c.CharEnd, c.Text, c.TokenIds.Length,
                chunkKeys[c.Ordinal].ToBytes(), vectors[i])).ToList();
            await index.AddChunksAsync(collection, externalId, rows, cancellationToken);
            done += batch.Length;
            progress?.Report(new IngestProgress(externalId, IngestStage.Indexing, done, chunks.Count));
        }
        return missing.Count;
    }

    /// <summary>
    /// SHA-256 over the text, the metadata and everything that shapes the chunks, their vectors and
    /// their cache keys. New metadata thus replaces the document; its caches are kept and reused.
    /// </summary>
    private byte[] ContentHash(DocumentInput document)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var options = chunker.Options;
        hash.AppendData(Encoding.UTF8.GetBytes(
            $"chunkkv.doc\n{document.Format}\n{options.TargetTokens}\n{options.OverlapTokens}\n{embedder.Name}\n{_options.ChunkSeparator}\n{string.Join(',', keys.PromptPrefix ?? [])}\n{keys.Codec.Id}:{keys.Codec.GroupSize}\nkv{Transformer.KvComputeVersion}\n"));
        hash.AppendData(keys.ModelFingerprint);
        hash.AppendData(Encoding.UTF8.GetBytes((document.Metadata ?? []).ToJsonString()));
        hash.AppendData("\n"u8);
        hash.AppendData(Encoding.UTF8.GetBytes(document.Text));
        return hash.GetHashAndReset();
    }
}
