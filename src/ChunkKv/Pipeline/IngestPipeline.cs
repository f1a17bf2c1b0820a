using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ChunkKv.Caching;
using ChunkKv.Chunking;
using ChunkKv.Collections;
using ChunkKv.Inference.Models;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Pipeline;

/// <summary>
/// Documents in: chunk ▸ embed ▸ index ▸ precompute each chunk's KV cache ▸ store, then the
/// document is made searchable. Idempotent: the document's content hash covers its text and
/// every setting that shapes the result, so ingesting it again does nothing. Resumable: chunks
/// already indexed and caches already stored by an interrupted run are not done again, and a
/// document is searchable only once all of it is there. Made by its <see cref="CollectionContext"/>,
/// whose chunk form, keys and caches a query of the collection finds again.
/// </summary>
internal sealed class IngestPipeline(CollectionContext context)
{
    private IChunkIndex index => context.Runtime.Index;
    private Retrieval.Embedding.IEmbedder embedder => context.Runtime.Embedder;
    private ChunkCaches caches => context.Caches;
    private string collection => context.Name;

    public async Task<IngestResult> IngestAsync(DocumentInput document, IProgress<IngestProgress>? progress, IngestOptions options,
        CancellationToken cancellationToken)
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

        var chunks = context.Chunker.Split(document.Text, document.Format);
        await index.BeginDocumentAsync(collection, document.ExternalId, hash, document.Metadata ?? [], cancellationToken);
        var cacheTokens = chunks.Select(c => context.ChunkPromptTokens(c.Text)).ToArray();
        var chunkKeys = cacheTokens.Select(ids => caches.KeyOf(ids)).ToArray();
        var embedded = await IndexMissingAsync(document.ExternalId, options, chunks, chunkKeys, progress, cancellationToken);

        var computed = 0;
        if (options.StoreCaches)
        {
            var distinct = chunkKeys.Zip(cacheTokens, (key, ids) => (key, ids)).DistinctBy(c => c.key).ToList();
            // A cache that reaches no tier throws here: the document stays unfinished (not ready), and
            // the next ingest of it resumes and computes what is missing.
            computed = await caches.StoreMissingAsync(distinct,
                done => progress?.Report(new IngestProgress(document.ExternalId, IngestStage.Caching, done, distinct.Count)),
                (key, ct) => index.LockCacheKeyAsync(key.ToBytes(), ct), options.Slice, cancellationToken);
        }
        await index.MarkReadyAsync(collection, document.ExternalId, chunks.Count, cancellationToken);

        // Caches the old version alone used; the new version may use some of them again.
        var kept = chunkKeys.ToHashSet();
        await context.Runtime.RemoveUnusedCachesAsync(orphaned.Where(k => !kept.Contains(ChunkCacheKey.FromBytes(k))), cancellationToken);
        return new IngestResult(document.ExternalId, outcome, chunks.Count, chunks.Sum(c => c.TokenIds.Length), embedded, computed,
            clock.Elapsed);
    }

    /// <summary>Removes a document from the index and the caches that no other chunk uses; false when there was none.</summary>
    public async Task<bool> DeleteAsync(string externalId, CancellationToken cancellationToken)
    {
        var deleted = await index.DeleteDocumentAsync(collection, externalId, cancellationToken);
        await context.Runtime.RemoveUnusedCachesAsync(deleted.OrphanedCacheKeys, cancellationToken);
        return deleted.Found;
    }

    private async Task<int> IndexMissingAsync(string externalId, IngestOptions options, IReadOnlyList<TextChunk> chunks,
        ChunkCacheKey[] chunkKeys, IProgress<IngestProgress>? progress, CancellationToken cancellationToken)
    {
        var indexed = await index.IndexedOrdinalsAsync(collection, externalId, cancellationToken);
        var missing = chunks.Where(c => !indexed.Contains(c.Ordinal)).ToList();
        var done = chunks.Count - missing.Count;
        progress?.Report(new IngestProgress(externalId, IngestStage.Indexing, done, chunks.Count));
        foreach (var batch in missing.Chunk(options.BatchSize))
        {
            float[][] vectors;
            await using (await EngineTurns.TakeAsync(options.Slice, cancellationToken))
            {
                vectors = await embedder.EmbedAsync(batch.Select(c => c.Text).ToArray(), cancellationToken);
            }
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
        var options = context.Chunker.Options;
        hash.AppendData(Encoding.UTF8.GetBytes(
            $"chunkkv.doc\n{document.Format}\n{options.TargetTokens}\n{options.OverlapTokens}\n{embedder.Name}\n{context.Runtime.Layout.ChunkForm}\n{string.Join(',', caches.Prefix)}\n{caches.Codec.Id}:{caches.Codec.GroupSize}\nkv{Transformer.KvComputeVersion}\n"));
        hash.AppendData(caches.Fingerprint.Span);
        hash.AppendData(Encoding.UTF8.GetBytes((document.Metadata ?? []).ToJsonString()));
        hash.AppendData("\n"u8);
        hash.AppendData(Encoding.UTF8.GetBytes(document.Text));
        return hash.GetHashAndReset();
    }
}
