using System.Diagnostics;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Pipeline;

/// <summary>Where one piece's cache came from.</summary>
public enum CacheSource
{
    /// <summary>A tier held it and it decoded cleanly.</summary>
    Hit,

    /// <summary>No tier held it (or it was corrupt, which the store treats as a miss): computed now and stored.</summary>
    Computed,
}

/// <summary>
/// The prompt's caches, checked and not yet decoded (fusion decodes them into its slots), with where
/// each came from (the prefix first, then each chunk) and how long loading took. Dispose it once the
/// fusion is done: that hands the tiers' buffers back and lets the store promote the hits.
/// </summary>
public sealed record LoadedCaches(PromptCaches Caches, CacheSource? Prefix, IReadOnlyList<CacheSource> Chunks, TimeSpan Elapsed)
    : IDisposable
{
    public void Dispose()
    {
        (Caches.Prefix as IDisposable)?.Dispose();
        foreach (var chunk in Caches.Chunks)
        {
            (chunk as IDisposable)?.Dispose();
        }
    }
}

/// <summary>
/// Fetches a prompt's stored caches: the prefix's, and each chunk's computed after that prefix.
/// A chunk's key covers the prefix's tokens (<see cref="ChunkCacheKey.Compute"/>'s context), so
/// another prefix never hits it. A miss or a corrupt entry is computed on the spot and stored,
/// never fatal; a store that takes no write only means the next query computes again. Entries are
/// checked here, every byte, and decoded later, straight into the fused sequence.
/// </summary>
public sealed class PromptCacheLoader(LanguageModel model, KvStore store, KvCodec codec)
{
    private const int ConcurrentLoads = 3;

    private readonly byte[] fingerprint = Convert.FromHexString(model.Fingerprint);

    /// <summary>The key of a chunk computed after <paramref name="prefix"/> (empty: the chunk alone, at positions from 0), as ingestion keys it.</summary>
    public ChunkCacheKey KeyOf(int[] prefix, ReadOnlySpan<int> chunk) => new ChunkCacheKeys(fingerprint, codec, prefix).Of(chunk);

    public async Task<LoadedCaches> LoadAsync(FusionPrompt prompt, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        CheckedEntry? prefix = null;
        CacheSource? prefixSource = null;
        if (prompt.Prefix.Length > 0)
        {
            (prefix, var source) = await GetOrComputeAsync(KeyOf([], prompt.Prefix), prompt.Prefix.Length,
                () => PromptCacheComputation.Prefix(model.Transformer, prompt.Prefix)!, cancellationToken);
            prefixSource = source;
        }
        // The chunks computed after the prefix need its K/V: decoded once, only if some chunk misses.
        var prefixKv = new Lazy<KvCache?>(() => prefix?.Decode().Kv);
        // A few at a time: issued all at once, the last entries of a large prompt wait behind the
        // others past the store's per-operation timeout, which faults the tier (measured with Redis:
        // 6 MB entries, 9 at once, on a fresh connection); one at a time leaves bandwidth unused.
        var chunks = new (CheckedEntry Cache, CacheSource Source)[prompt.Chunks.Count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, prompt.Chunks.Count),
                new ParallelOptions { MaxDegreeOfParallelism = ConcurrentLoads, CancellationToken = cancellationToken },
                async (i, ct) => chunks[i] = await GetOrComputeAsync(KeyOf(prompt.Prefix, prompt.Chunks[i]), prompt.Chunks[i].Length,
                    () => PromptCacheComputation.Chunk(model.Transformer, prefixKv.Value, prompt.Chunks[i]), ct));
        }
        catch
        {
            prefix?.Dispose();
            foreach (var (cache, _) in chunks.Where(c => c.Cache is not null))
            {
                cache.Dispose();
            }
            throw;
        }
        return new LoadedCaches(new PromptCaches(prefix, chunks.Select(c => c.Cache).ToList()), prefixSource,
            chunks.Select(c => c.Source).ToList(), clock.Elapsed);
    }

    private async Task<(CheckedEntry Cache, CacheSource Source)> GetOrComputeAsync(ChunkCacheKey key, int tokens, Func<KvCache> compute,
        CancellationToken cancellationToken)
    {
        var stored = await store.GetCheckedAsync(key, fingerprint, cancellationToken);
        if (stored is not null && stored.Tokens == tokens && stored.KeyForm == KeyForm.PostRope)
        {
            return (stored, CacheSource.Hit);
        }
        stored?.Dispose();
        var entry = await Task.Run(() => ChunkCacheCodec.Encode(compute(), codec, fingerprint), cancellationToken);
        try
        {
            await store.PutAsync(key, entry, cancellationToken);
        }
        catch (KvStoreWriteException)
        {
            // Every tier is down: this answer is still right, the next one computes again.
        }
        // Served as stored, so a hit and a miss give the same answer whatever the codec loses.
        return (CheckedEntry.Check(entry, fingerprint), CacheSource.Computed);
    }
}
