using System.Runtime.InteropServices;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Pipeline;

/// <summary>
/// How chunk caches are addressed: the model fingerprint, the codec and the prompt prefix the
/// chunks are computed after (see <see cref="ChunkCacheKey"/>; the prefix's tokens are its context).
/// </summary>
public sealed record ChunkCacheKeys(byte[] ModelFingerprint, KvCodec Codec, int[]? PromptPrefix = null)
{
    public static ChunkCacheKeys For(LanguageModel model, KvCodec codec, int[]? promptPrefix = null) =>
        new(Convert.FromHexString(model.Fingerprint), codec, promptPrefix);

    /// <summary>The key of a chunk computed after <see cref="PromptPrefix"/> (none: alone, at positions 0..n-1).</summary>
    public ChunkCacheKey Of(ReadOnlySpan<int> tokenIds) =>
        ChunkCacheKey.Compute(ModelFingerprint, Codec, tokenIds, MemoryMarshal.AsBytes((PromptPrefix ?? []).AsSpan()));
}

/// <summary>
/// Computes a chunk's KV cache with the engine (after the prompt prefix, at the positions that
/// continue it, keys after RoPE) and stores it. Encoding and writing one chunk overlaps computing the next.
/// </summary>
public sealed class KvPrecomputer(LanguageModel model, KvStore store, KvCodec codec, int[]? promptPrefix = null)
{
    private readonly Lazy<KvCache?> prefixCache = new(() => PromptCacheComputation.Prefix(model.Transformer, promptPrefix ?? []));

    public ChunkCacheKeys Keys { get; } = ChunkCacheKeys.For(model, codec, promptPrefix);

    public KvStore Store => store;

    /// <summary>Computes and stores every chunk whose cache no tier holds; returns how many were computed.</summary>
    /// <param name="chunks">Each chunk's token ids with its key (<see cref="Keys"/>), computed once by the caller.</param>
    /// <param name="lockKey">
    /// Held from "is it stored?" until the store has it, so a concurrent removal of the same key
    /// (its last other user deleted) cannot slip in between (<see cref="Retrieval.Indexing.IChunkIndex.LockCacheKeyAsync"/>).
    /// </param>
    /// <exception cref="KvStoreWriteException">A cache reached no tier: the caller must not report the chunks stored.</exception>
    public async Task<int> EnsureAsync(IReadOnlyList<(ChunkCacheKey Key, int[] TokenIds)> chunks, Action<int>? progress = null,
        Func<ChunkCacheKey, CancellationToken, Task<IAsyncDisposable>>? lockKey = null, CancellationToken cancellationToken = default)
    {
        var computed = 0;
        var pendingWrite = Task.CompletedTask;
        try
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                var (key, ids) = chunks[i];
                var held = lockKey is null ? null : await lockKey(key, cancellationToken);
                try
                {
                    if (!await store.ContainsAsync(key, cancellationToken))
                    {
                        var cache = await Task.Run(() => Compute(ids), cancellationToken);
                        await pendingWrite;
                        // Encoding and writing this chunk overlaps computing the next; the key's lock goes with the write.
                        pendingWrite = WriteAndReleaseAsync(key, cache, held, cancellationToken);
                        held = null;
                        computed++;
                    }
                }
                finally
                {
                    if (held is not null)
                    {
                        await held.DisposeAsync();
                    }
                }
                progress?.Invoke(i + 1);
            }
        }
        finally
        {
            await pendingWrite; // a failed write surfaces here even when computing failed first
        }
        return computed;
    }

    private async Task WriteAndReleaseAsync(ChunkCacheKey key, KvCache cache, IAsyncDisposable? held, CancellationToken cancellationToken)
    {
        try
        {
            await store.PutAsync(key, cache, codec, Keys.ModelFingerprint, cancellationToken: cancellationToken);
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync();
            }
        }
    }

    /// <summary>The chunk's cache as ingestion stores it.</summary>
    public KvCache Compute(int[] tokenIds) => PromptCacheComputation.Chunk(model.Transformer, prefixCache.Value, tokenIds);

    /// <summary>The cache of a chunk computed alone at positions 0..n-1, with <paramref name="model"/>.</summary>
    public static KvCache Compute(LanguageModel model, int[] tokenIds) => PromptCacheComputation.Chunk(model.Transformer, null, tokenIds);
}
