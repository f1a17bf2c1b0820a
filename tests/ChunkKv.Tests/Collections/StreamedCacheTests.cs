using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Testing;
using ChunkKv.Tests.Chunking;
using StackExchange.Redis;

namespace ChunkKv.Tests.Collections;

/// <summary>
/// Caches streamed from the real Redis the test script starts, layer by layer, into the fused
/// sequence (tiny random model): a layer that fails its checksum or is gone once fusion has begun
/// makes the query compute that chunk again and store it afresh, and the answer is the one intact
/// caches give; nothing of the bad entry is served.
/// </summary>
public sealed class StreamedCacheTests : IDisposable
{
    private readonly Inference.Models.LanguageModel _model = ModelFixtures.TinyQwen3();
    private readonly ConnectionMultiplexer _redis = ConnectionMultiplexer.Connect(TestServices.Redis);
    private readonly string _prefix = $"chunkkv:test:{Guid.NewGuid():N}:";

    private (CollectionContext Collection, KvStore Store, RedisTier Tier) Collection(params IKvTier[] fasterTiers)
    {
        var tier = new RedisTier(_redis, _prefix);
        var store = new KvStore([.. fasterTiers, tier]);
        var collection = new ChunkKvRuntime(_model, store, KvCodec.Create(KvCodecId.F16))
            .Collection("", new CollectionSettings(Prefix: "Notes.\n\n"));
        return (collection, store, tier);
    }

    private static FusionPrompt Prompt(CollectionContext collection) =>
        collection.Prompt([Corpus.Sentence(30, seed: 1), Corpus.Sentence(30, seed: 2), Corpus.Sentence(30, seed: 3)], "What came last?");

    private async Task<float[]> IntactLogitsAsync(FusionMethod method)
    {
        var (collection, _, _) = Collection();
        var prompt = Prompt(collection);
        await collection.StoreCachesAsync(prompt);
        using var fused = await collection.FuseAsync(prompt, method, answerTokens: 1);
        Assert.All(fused.ChunkCaches!, source => Assert.Equal(CacheSource.Hit, source));
        return fused.Fusion.Logits;
    }

    [Theory]
    [InlineData("reuse")]
    [InlineData("cacheblend:0.15")]
    [InlineData("epic:4")]
    public async Task A_layer_corrupted_in_redis_is_found_mid_fusion_and_its_chunk_computed_again_never_served(string methodName)
    {
        var method = FusionMethod.Parse(methodName);
        var intact = await IntactLogitsAsync(method);
        var (collection, store, tier) = Collection();
        var prompt = Prompt(collection);
        var key = collection.Caches.KeyOf(prompt.Chunks[1]);
        var layer = _model.Config.Layers - 1; // the last: fusion has used every layer before it
        await FlipAsync(tier, key, RedisTier.FieldOf(layer), at: 9);

        using (var fused = await collection.FuseAsync(prompt, method, answerTokens: 1))
        {
            Assert.Equal([CacheSource.Hit, CacheSource.Computed, CacheSource.Hit], fused.ChunkCaches);
            Assert.Equal(intact, fused.Fusion.Logits);
        }
        await store.FlushPromotionsAsync();
        Assert.Equal(1, store.Statistics[0].CorruptEntries);
        Assert.NotNull(await store.GetAsync(key, collection.Caches.Fingerprint)); // stored afresh, intact
    }

    [Fact]
    public async Task A_layer_gone_from_redis_mid_fusion_is_computed_again_and_the_entry_stored_whole()
    {
        var intact = await IntactLogitsAsync(FusionMethod.Reuse);
        var (collection, store, tier) = Collection();
        var prompt = Prompt(collection);
        var key = collection.Caches.KeyOf(prompt.Chunks[2]);
        await _redis.GetDatabase().HashDeleteAsync(tier.KeyOf(key), RedisTier.FieldOf(1)); // evicted in part

        using (var fused = await collection.FuseAsync(prompt, FusionMethod.Reuse, answerTokens: 1))
        {
            Assert.Equal([CacheSource.Hit, CacheSource.Hit, CacheSource.Computed], fused.ChunkCaches);
            Assert.Equal(intact, fused.Fusion.Logits);
        }
        await store.FlushPromotionsAsync();
        Assert.Equal(_model.Config.Layers + 1, await _redis.GetDatabase().HashLengthAsync(tier.KeyOf(key)));
        Assert.Equal(0, store.Statistics[0].CorruptEntries);
    }

    [Fact]
    public async Task Caches_streamed_from_redis_are_promoted_whole_and_the_next_query_finds_them_in_memory()
    {
        await IntactLogitsAsync(FusionMethod.Reuse); // stores them in Redis
        var (collection, store, _) = Collection(new MemoryTier(64 << 20));
        var prompt = Prompt(collection);

        float[] first;
        using (var fused = await collection.FuseAsync(prompt, FusionMethod.Reuse, answerTokens: 1))
        {
            first = fused.Fusion.Logits;
        }
        await store.FlushPromotionsAsync();
        var redisHits = store.Statistics[1].Hits;
        using (var again = await collection.FuseAsync(prompt, FusionMethod.Reuse, answerTokens: 1))
        {
            Assert.Equal(first, again.Fusion.Logits);
        }
        Assert.Equal(4, store.Statistics[0].Hits); // the prefix and three chunks, from memory
        Assert.Equal(redisHits, store.Statistics[1].Hits);
    }

    private async Task FlipAsync(RedisTier tier, ChunkCacheKey key, RedisValue field, int at)
    {
        var bytes = (byte[])(await _redis.GetDatabase().HashGetAsync(tier.KeyOf(key), field))!;
        bytes[at] ^= 0x40;
        await _redis.GetDatabase().HashSetAsync(tier.KeyOf(key), field, bytes);
    }

    public void Dispose()
    {
        _redis.Dispose();
        _model.Dispose();
    }
}
