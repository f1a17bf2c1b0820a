using System.Collections.Concurrent;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Prompts;

namespace ChunkKv.Collections;

/// <summary>Where a runtime finds and indexes chunks: needed by collections that ingest and retrieve, not by those given their prompts.</summary>
public sealed record RetrievalStores(IChunkIndex Index, IEmbedder Embedder);

/// <summary>
/// What every collection served by one model shares: the model, the store and codec of chunk
/// caches, the prompt layout, the fuser (one per runtime, with Cache-Craft's variants and the kept
/// buffers), and, for collections that retrieve, the index and the embedder. Every path to an
/// answer starts here — the server, <c>chunkkv eval</c>, <c>bench ttft</c> and <c>fuse</c> — and goes
/// through a <see cref="CollectionContext"/>, so what is evaluated is what is served.
/// </summary>
public sealed class ChunkKvRuntime
{
    /// <summary>Tokens per chunk when a collection names none.</summary>
    public const int DefaultChunkTokens = 256;

    private readonly RetrievalStores? retrievalStores;
    private readonly ConcurrentDictionary<(string Name, CollectionSettings Settings, string Scope), CollectionContext> contexts = new();

    /// <summary>
    /// One <see cref="ChunkCaches"/> per prefix and scope, shared by every collection that has them: the
    /// prefix's K/V (a megabyte a collection on an 8B model) is computed and held once, not per collection.
    /// </summary>
    private readonly ConcurrentDictionary<(string Prefix, string Scope), ChunkCaches> caches = new();

    /// <summary>The last fusion's sequence, kept for the next (see <see cref="TakeSequence"/>).</summary>
    private KvSequence? spare;

    /// <param name="layout">The prompt layout; null: the model directory's (<see cref="PromptLayout.FromModelDirectory"/>).</param>
    /// <param name="retrieval">The index and embedder; null for a runtime that is only given prompts (bench, fuse).</param>
    /// <param name="chunkTokens">Tokens per chunk for collections that name none.</param>
    public ChunkKvRuntime(LanguageModel model, KvStore store, KvCodec codec, PromptLayout? layout = null, RetrievalStores? retrieval = null,
        int chunkTokens = DefaultChunkTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(codec);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        Model = model;
        Store = store;
        Codec = codec;
        Layout = layout ?? PromptLayout.FromModelDirectory(model.Directory);
        retrievalStores = retrieval;
        ChunkTokens = chunkTokens;
        Fuser = new Fuser(model.Transformer, new ChunkVariantCache());
    }

    public LanguageModel Model { get; }
    public KvStore Store { get; }
    public KvCodec Codec { get; }
    public PromptLayout Layout { get; }
    public int ChunkTokens { get; }

    /// <summary>The one fuser: Cache-Craft's variants found by one path are found by every other.</summary>
    public Fuser Fuser { get; }

    /// <summary>Whether collections here can ingest and retrieve (an index and an embedder were given).</summary>
    public bool Retrieves => retrievalStores is not null;

    public IChunkIndex Index => retrievalStores?.Index ?? throw new InvalidOperationException("this runtime has no index: it is only given prompts");

    public IEmbedder Embedder => retrievalStores?.Embedder ?? throw new InvalidOperationException("this runtime has no embedder: it is only given prompts");

    /// <summary>The context of a collection in its settings (the layout's prefix and <see cref="ChunkTokens"/> where they name none); made once.</summary>
    /// <param name="cacheScope">
    /// Who its chunk caches are shared with: collections of the same scope find each other's caches,
    /// others never do (their keys differ). A server gives each tenant a scope of its own, so one
    /// tenant cannot learn from a cache hit, or its timing, that another holds a text (the side
    /// channel vLLM's <c>cache_salt</c> closes). Empty: shared with every collection of empty scope.
    /// </param>
    /// <exception cref="InvalidOperationException">The model has no tokenizer: text cannot become prompts.</exception>
    public CollectionContext Collection(string name, CollectionSettings settings, string cacheScope = "")
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(cacheScope);
        return contexts.GetOrAdd((name, settings, cacheScope), key =>
        {
            var prefixText = key.Settings.Prefix ?? Layout.Instruction;
            var tokenizer = Model.Tokenizer ?? throw new InvalidOperationException($"the model in {Model.Directory} has no tokenizer.json");
            // Special tokens the model's post-processor puts first (Llama's BOS) belong to the prefix: one per
            // prompt. A chat template writes its own, so then none is added.
            int[] prefix = [.. Layout.AddsSpecialTokens ? tokenizer.Encode("", addSpecialTokens: true) : [],
                .. tokenizer.Encode(Layout.PrefixText(prefixText), addSpecialTokens: false)];
            return new CollectionContext(this, key.Name, key.Settings, CachesOf(prefix, key.Scope), prefixText, key.Settings.ChunkTokens ?? ChunkTokens);
        });
    }

    /// <summary>The context of the collection of that name in the index; null when there is none.</summary>
    /// <exception cref="CollectionMismatchException">It was embedded by another embedder than this runtime's: its vectors are of another space.</exception>
    /// <param name="cacheScope">See <see cref="Collection"/>.</param>
    public async Task<CollectionContext?> FindCollectionAsync(string name, string cacheScope = "", CancellationToken cancellationToken = default)
    {
        if (await Index.GetCollectionAsync(name, cancellationToken) is not { } info)
        {
            return null;
        }
        if (info.Embedder != Embedder.Name || info.Dimension != Embedder.Dimension)
        {
            throw new CollectionMismatchException($"collection '{name}' was embedded with {info.Embedder} ({info.Dimension} dimensions); "
                + $"this server embeds with {Embedder.Name} ({Embedder.Dimension}): serve it with its embedder, or delete and ingest it again");
        }
        return Collection(name, info.Settings, cacheScope);
    }

    /// <summary>A context for prompts given in tokens (bench, <c>fuse</c>, models without a tokenizer): no text, no retrieval.</summary>
    public CollectionContext ForPrefixTokens(int[] prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return new CollectionContext(this, "", CollectionSettings.None, CachesOf(prefix, ""), prefixText: null, ChunkTokens);
    }

    private ChunkCaches CachesOf(int[] prefix, string scope) =>
        caches.GetOrAdd((string.Join(',', prefix), scope), _ => new ChunkCaches(Model, Store, Codec, prefix, scope));

    /// <summary>Forgets the contexts of a collection that is gone (a new one of that name starts afresh).</summary>
    internal void Forget(string name)
    {
        foreach (var key in contexts.Keys.Where(k => k.Name == name))
        {
            contexts.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Removes the stored caches of <paramref name="keys"/> that no chunk in the index uses. Checked
    /// again under each key's lock: another document may have taken the same chunk since the delete
    /// listed it, and its ingestion may already have found the cache stored.
    /// </summary>
    internal async Task RemoveUnusedCachesAsync(IEnumerable<byte[]> keys, CancellationToken cancellationToken)
    {
        foreach (var key in keys)
        {
            await using var held = await Index.LockCacheKeyAsync(key, cancellationToken);
            if (!await Index.IsCacheKeyReferencedAsync(key, cancellationToken))
            {
                await Store.RemoveAsync(ChunkCacheKey.FromBytes(key), cancellationToken);
            }
        }
    }

    /// <summary>Deletes a collection with its documents, and the stored caches no other chunk uses; false when there was none.</summary>
    public async Task<bool> DeleteCollectionAsync(string name, CancellationToken cancellationToken = default)
    {
        var deleted = await Index.DeleteCollectionAsync(name, cancellationToken);
        Forget(name);
        await RemoveUnusedCachesAsync(deleted.OrphanedCacheKeys, cancellationToken);
        return deleted.Found;
    }

    /// <summary>
    /// A sequence for <paramref name="needed"/> slots: the kept one when it fits without being far
    /// larger, so its buffers (hundreds of MB for a long prompt on a real model) are filled again
    /// rather than allocated and faulted in again. One is kept; concurrent fusions beyond it allocate their own.
    /// </summary>
    internal KvSequence TakeSequence(int needed)
    {
        var kept = Interlocked.Exchange(ref spare, null);
        return kept is { Capacity: var capacity } && capacity >= needed && capacity <= 4 * needed
            ? kept
            : Model.Transformer.NewSequence(needed);
    }

    /// <summary>Keeps a sequence nothing refers to any more for the next fusion.</summary>
    internal void GiveBack(KvSequence sequence) => spare = sequence;
}
