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

/// <summary>The prompt's caches with where each came from (the prefix first, then each chunk) and how long loading took.</summary>
public sealed record LoadedCaches(PromptCaches Caches, CacheSource? Prefix, IReadOnlyList<CacheSource> Chunks, TimeSpan Elapsed);

/// <summary>
/// Fetches a prompt's stored caches: the prefix's, and each chunk's computed after that prefix.
/// A chunk's key covers the prefix's tokens (<see cref="ChunkCacheKey.Compute"/>'s context), so
/// another prefix never hits it. A miss or a corrupt entry is computed on the spot and stored,
/// never fatal; a store that takes no write only means the next query computes again.
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
        KvCache? prefix = null;
        CacheSource? prefixSource = null;
        if (prompt.Prefix.Length > 0)
        {
            (prefix, var source) = await GetOrComputeAsync(KeyOf([], prompt.Prefix), prompt.Prefix.Length,
                () => PromptCacheComputation.Prefix(model.Transformer, prompt.Prefix)!, cancellationToken);
            prefixSource = source;
        }
        // A few at a time: issued all at once, the last entries of a large prompt wait behind the
        // others past the store's per-operation timeout, which faults the tier (measured with Redis:
        // 6 MB entries, 9 at once, on a fresh connection); one at a time leaves bandwidth unused.
        var chunks = new (KvCache Cache, CacheSource Source)[prompt.Chunks.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, prompt.Chunks.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ConcurrentLoads, CancellationToken = cancellationToken },
            async (i, ct) => chunks[i] = await GetOrComputeAsync(KeyOf(prompt.Prefix, prompt.Chunks[i]), prompt.Chunks[i].Length,
                () => PromptCacheComputation.Chunk(model.Transformer, prefix, prompt.Chunks[i]), ct));
        return new LoadedCaches(new PromptCaches(prefix, chunks.Select(c => c.Cache).ToList()), prefixSource,
            chunks.Select(c => c.Source).ToList(), clock.Elapsed);
    }

    private async Task<(KvCache Cache, CacheSource Source)> GetOrComputeAsync(ChunkCacheKey key, int tokens, Func<KvCache> compute,
        CancellationToken cancellationToken)
    {
        var stored = await store.GetAsync(key, fingerprint, cancellationToken);
        if (stored is not null && stored.Kv.Tokens == tokens && stored.Kv.KeyForm == KeyForm.PostRope)
        {
            return (stored.Kv, CacheSource.Hit);
        }
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
        return (ChunkCacheCodec.Decode(entry, fingerprint).Kv, CacheSource.Computed);
    }
}
