using System.Diagnostics;
using System.Runtime.InteropServices;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Collections;

/// <summary>Where one piece's cache came from.</summary>
public enum CacheSource
{
    /// <summary>A tier held it and it decoded cleanly.</summary>
    Hit,

    /// <summary>No tier held it (or it was corrupt, which the store treats as a miss): computed now and stored.</summary>
    Computed,

    /// <summary>Not read: the method computes these rows itself (<c>full</c>).</summary>
    Unused,
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
/// The stored caches of one prompt prefix: how they are keyed, computed, stored and loaded. Every
/// chunk cache of a collection is computed after the collection's prefix (so the prefix, not the
/// chunk's first token, is the attention sink, as in a full prefill), and its key covers the
/// prefix's tokens, so another prefix never hits it. Ingestion and queries both come here: a key
/// made on one side is the key the other side looks up.
/// </summary>
/// <remarks>
/// A key is SHA-256 over the model fingerprint, the codec, the engine's K/V version, the format
/// version, the chunk's tokens and the prefix's tokens (<see cref="ChunkCacheKey.Compute"/>). A miss or a
/// corrupt entry found by a query is computed on the spot and stored, never fatal; a store that
/// takes no write then only means the next query computes again.
/// </remarks>
public sealed class ChunkCaches
{
    /// <summary>
    /// Lookups in flight at once (a miss computes its chunk there, so this also bounds concurrent
    /// computations). A Redis hit is only its header here; its layers are requested together
    /// afterwards (<see cref="KvStore.StreamLayers"/>), under a timeout sized to them.
    /// </summary>
    private const int ConcurrentLoads = 3;

    private readonly LanguageModel model;
    private readonly byte[] fingerprint;
    private readonly Lazy<KvCache?> prefixKv;

    private readonly byte[] scope;

    /// <param name="scope">Who may share these caches (a tenant); caches of another scope are never found here. Empty: shared by all.</param>
    internal ChunkCaches(LanguageModel model, KvStore store, KvCodec codec, int[] prefix, string scope = "")
    {
        this.model = model;
        Store = store;
        Codec = codec;
        Prefix = prefix;
        Scope = scope;
        fingerprint = Convert.FromHexString(model.Fingerprint);
        this.scope = System.Text.Encoding.UTF8.GetBytes(scope);
        prefixKv = new Lazy<KvCache?>(() => PromptCacheComputation.Prefix(model.Transformer, prefix));
        // The prefix computed alone is the cache of a chunk of its tokens after no prefix: one key for both.
        PrefixKey = ChunkCacheKey.Compute(fingerprint, codec, prefix, Context([]));
    }

    /// <summary>Who shares these caches: a tenant's name, or empty for everyone (see <see cref="ChunkKvRuntime.Collection"/>).</summary>
    public string Scope { get; }

    /// <summary>
    /// What a key covers beside the chunk's tokens: the prefix's tokens, then the scope. An empty scope
    /// adds nothing, so caches made before scopes existed keep their keys.
    /// </summary>
    private byte[] Context(ReadOnlySpan<int> prefix)
    {
        var tokens = MemoryMarshal.AsBytes(prefix);
        if (scope.Length == 0)
        {
            return tokens.ToArray();
        }
        // The scope's length and a marker the token bytes cannot end with alone keep (prefix, scope) pairs apart.
        return [.. tokens, .. "\0scope:"u8, .. BitConverter.GetBytes(scope.Length), .. scope];
    }

    public KvStore Store { get; }
    public KvCodec Codec { get; }

    /// <summary>The prefix's tokens, which every chunk cache here is computed after.</summary>
    public int[] Prefix { get; }

    /// <summary>The model fingerprint stored with, and checked against, every entry.</summary>
    public ReadOnlyMemory<byte> Fingerprint => fingerprint;

    /// <summary>The key of the prefix's own cache.</summary>
    public ChunkCacheKey PrefixKey { get; }

    /// <summary>The key of a chunk's cache, computed after <see cref="Prefix"/>.</summary>
    public ChunkCacheKey KeyOf(ReadOnlySpan<int> chunkTokens) =>
        ChunkCacheKey.Compute(fingerprint, Codec, chunkTokens, Context(Prefix));

    /// <summary>The chunk's K/V from a prefill of <c>P ++ C</c>, at positions |P| … |P|+|C|−1: what the store holds.</summary>
    public KvCache Compute(int[] chunkTokens) => PromptCacheComputation.Chunk(model.Transformer, prefixKv.Value, chunkTokens);

    /// <summary>
    /// Computes and stores every chunk whose cache no tier holds; returns how many were computed.
    /// Encoding and writing one chunk overlaps computing the next.
    /// </summary>
    /// <param name="chunks">Each distinct chunk's tokens with its key (<see cref="KeyOf"/>).</param>
    /// <param name="lockKey">
    /// Held from "is it stored?" until the store has it, so a concurrent removal of the same key
    /// (its last other user deleted) cannot slip in between (<see cref="Retrieval.Indexing.IChunkIndex.LockCacheKeyAsync"/>).
    /// </param>
    /// <exception cref="KvStoreWriteException">A cache reached no tier: the caller must not report the chunks stored.</exception>
    /// <param name="slice">Taken around each chunk's computation (a server's turn on its engine); null: none.</param>
    public async Task<int> StoreMissingAsync(IReadOnlyList<(ChunkCacheKey Key, int[] TokenIds)> chunks, Action<int>? progress = null,
        Func<ChunkCacheKey, CancellationToken, Task<IAsyncDisposable>>? lockKey = null,
        Func<CancellationToken, Task<IAsyncDisposable>>? slice = null, CancellationToken cancellationToken = default)
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
                    if (!await Store.ContainsAsync(key, cancellationToken))
                    {
                        KvCache cache;
                        await using (await Pipeline.EngineTurns.TakeAsync(slice, cancellationToken))
                        {
                            cache = await Task.Run(() => Compute(ids), cancellationToken);
                        }
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
            await Store.PutAsync(key, cache, Codec, fingerprint, cancellationToken: cancellationToken);
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Finds a prompt's stored caches, the prefix's and each chunk's, not yet decoded; what is missing
    /// or corrupt is computed and stored on the way. Entries from a layered tier (Redis) come back
    /// with their layers requested and still arriving, each checked as fusion decodes it.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt does not start with this prefix: its chunks would never hit.</exception>
    public async Task<LoadedCaches> LoadAsync(FusionPrompt prompt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (!prompt.Prefix.AsSpan().SequenceEqual(Prefix))
        {
            throw new ArgumentException("the prompt's prefix is not the one these caches are computed after", nameof(prompt));
        }
        var clock = Stopwatch.StartNew();
        IStoredEntry? prefix = null;
        CacheSource? prefixSource = null;
        if (Prefix.Length > 0)
        {
            (prefix, var source) = await GetOrComputeAsync(PrefixKey, Prefix.Length, () => prefixKv.Value!, cancellationToken);
            prefixSource = source;
        }
        var chunks = new (IStoredEntry Cache, CacheSource Source)[prompt.Chunks.Count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, prompt.Chunks.Count),
                new ParallelOptions { MaxDegreeOfParallelism = ConcurrentLoads, CancellationToken = cancellationToken },
                async (i, ct) => chunks[i] = await GetOrComputeAsync(KeyOf(prompt.Chunks[i]), prompt.Chunks[i].Length,
                    () => Compute(prompt.Chunks[i]), ct));
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
        Store.StreamLayers([prefix, .. chunks.Select(c => c.Cache)]);
        return new LoadedCaches(new PromptCaches(prefix, chunks.Select(c => c.Cache).ToList()), prefixSource,
            chunks.Select(c => c.Source).ToList(), clock.Elapsed);
    }

    private async Task<(IStoredEntry Cache, CacheSource Source)> GetOrComputeAsync(ChunkCacheKey key, int tokens, Func<KvCache> compute,
        CancellationToken cancellationToken)
    {
        var stored = await Store.GetCheckedAsync(key, fingerprint, cancellationToken);
        if (stored is not null && stored.Tokens == tokens && stored.KeyForm == KeyForm.PostRope)
        {
            return (stored, CacheSource.Hit);
        }
        stored?.Dispose();
        var entry = await Task.Run(() => ChunkCacheCodec.Encode(compute(), Codec, fingerprint, key), cancellationToken);
        try
        {
            await Store.PutAsync(key, entry, cancellationToken);
        }
        catch (KvStoreWriteException)
        {
            // Every tier is down: this answer is still right, the next one computes again.
        }
        // Served as stored, so a hit and a miss give the same answer whatever the codec loses.
        return (CheckedEntry.Check(entry, fingerprint, key), CacheSource.Computed);
    }
}
