using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Caching.Tiers;
using ChunkKv.Testing;

namespace ChunkKv.Tests.Caching;

/// <summary>The Redis tier on a Redis Cluster of three masters, unchanged: entries spread over the nodes, and a node lost is a miss, never an error.</summary>
public sealed class RedisClusterTests
{
    private const int Entries = 24;

    private static ChunkCacheKey KeyFor(int seed) => ChunkCacheKey.Compute(KvSamples.Fingerprint, new Float16Codec(), [seed]);

    /// <summary>Entry <paramref name="seed"/>'s first key as it comes back through the f16 codec.</summary>
    private static float FirstKey(int seed) => (float)(Half)KvSamples.Random(seed: seed).Keys[0][0];

    [Fact]
    public async Task Three_masters_serve_as_the_redis_tier_each_entry_whole_on_one_of_them()
    {
        using var cluster = new RedisCluster();
        using var connection = await RedisConnections.ConnectAsync(cluster.Configuration);
        var tier = new RedisTier(connection);
        var store = new KvStore([tier]);
        for (var i = 0; i < Entries; i++)
        {
            await store.PutAsync(KeyFor(i), KvSamples.Random(seed: i), new Float16Codec(), KvSamples.Fingerprint);
        }
        for (var i = 0; i < Entries; i++)
        {
            var chunk = await store.GetAsync(KeyFor(i), KvSamples.Fingerprint);
            Assert.NotNull(chunk);
            Assert.Equal(FirstKey(i), chunk!.Kv.Keys[0][0]);
        }
        // Spread by slot: every master holds some (24 random slots over three masters).
        var holders = Enumerable.Range(0, Entries).Select(i => cluster.NodeOf(connection, tier.KeyOf(KeyFor(i))).Port).ToHashSet();
        Assert.Equal(3, holders.Count);
        Assert.Equal(0, store.Statistics[0].Faults);
    }

    [Fact]
    public async Task A_master_killed_mid_run_makes_its_entries_misses_and_the_others_still_hit()
    {
        using var cluster = new RedisCluster();
        using var connection = await RedisConnections.ConnectAsync(cluster.Configuration);
        var tier = new RedisTier(connection);
        var options = new KvStoreOptions { BypassAfterFault = TimeSpan.FromMilliseconds(200), TierTimeout = TimeSpan.FromSeconds(1) };
        var store = new KvStore([tier], options);
        for (var i = 0; i < Entries; i++)
        {
            await store.PutAsync(KeyFor(i), KvSamples.Random(seed: i), new Float16Codec(), KvSamples.Fingerprint);
        }
        var killed = cluster.Nodes[1];
        var onKilled = Enumerable.Range(0, Entries).Where(i => cluster.NodeOf(connection, tier.KeyOf(KeyFor(i))) == killed).ToList();
        Assert.NotEmpty(onKilled);

        killed.Stop();
        // Nothing throws: the lost node's entries are misses (the store recomputes them), the rest hit or, while the
        // tier is bypassed after a fault, miss for a moment.
        foreach (var i in Enumerable.Range(0, Entries))
        {
            var chunk = await store.GetAsync(KeyFor(i), KvSamples.Fingerprint);
            Assert.True(chunk is null || chunk.Kv.Keys[0][0] == FirstKey(i));
            if (onKilled.Contains(i))
            {
                Assert.Null(chunk);
            }
        }
        // A write to the lost slots reaches no tier here (Redis is the only one): refused, never reported as done.
        await Assert.ThrowsAsync<KvStoreWriteException>(() =>
            store.PutAsync(KeyFor(onKilled[0]), KvSamples.Random(seed: 99), new Float16Codec(), KvSamples.Fingerprint));
        Assert.True(store.Statistics[0].Faults >= 1);

        // Once the bypass has run out, the surviving masters' entries hit again.
        foreach (var i in Enumerable.Range(0, Entries).Except(onKilled))
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            CachedChunk? chunk;
            while ((chunk = await store.GetAsync(KeyFor(i), KvSamples.Fingerprint)) is null)
            {
                Assert.True(DateTime.UtcNow < deadline, $"entry {i}, on a surviving master, still missed after 20 s");
                await Task.Delay(100);
            }
            Assert.Equal(FirstKey(i), chunk.Kv.Keys[0][0]);
        }
    }
}
