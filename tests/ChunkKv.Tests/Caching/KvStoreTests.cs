using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Caching.Tiers;
using ChunkKv.Testing;
using StackExchange.Redis;

namespace ChunkKv.Tests.Caching;

/// <summary>The tiered store against a real folder and the real Redis that the test script starts.</summary>
public sealed class KvStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("chunkkv-store-").FullName;
    private readonly ConnectionMultiplexer _redis = ConnectionMultiplexer.Connect(TestServices.Redis);
    private readonly string _prefix = $"chunkkv:test:{Guid.NewGuid():N}:";

    public void Dispose()
    {
        _redis.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private IKvTier Tier(string name) => name switch
    {
        "memory" => new MemoryTier(64 << 20),
        "disk" => new DiskTier(_folder),
        "redis" => new RedisTier(_redis, _prefix, TimeSpan.FromMinutes(5)),
        _ => throw new ArgumentException(name),
    };

    private static ChunkCacheKey KeyFor(int seed) => ChunkCacheKey.Compute(KvSamples.Fingerprint, new Float16Codec(), [seed]);

    public static TheoryData<string, KvCodecId> TiersAndCodecs()
    {
        var data = new TheoryData<string, KvCodecId>();
        foreach (var tier in new[] { "memory", "disk", "redis" })
        {
            foreach (var codec in Enum.GetValues<KvCodecId>())
            {
                data.Add(tier, codec);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TiersAndCodecs))]
    public async Task Every_codec_round_trips_through_every_tier(string tierName, KvCodecId codecId)
    {
        var store = new KvStore([Tier(tierName)]);
        var kv = KvSamples.Random();
        var codec = KvCodec.Create(codecId);
        var key = ChunkCacheKey.Compute(KvSamples.Fingerprint, codec, [1, 2, 3]);

        var entry = await store.PutAsync(key, kv, codec, KvSamples.Fingerprint);
        var chunk = await store.GetAsync(key, KvSamples.Fingerprint);

        Assert.NotNull(chunk);
        Assert.Equal(codecId, chunk.Codec);
        Assert.Equal(ChunkCacheCodec.Decode(entry, KvSamples.Fingerprint, key).Kv.Values[2], chunk.Kv.Values[2]);
        Assert.Equal(1, store.Statistics[0].Hits);
        Assert.Null(await store.GetAsync(KeyFor(999), KvSamples.Fingerprint));
        Assert.Equal(1, store.Statistics[0].Misses);
    }

    [Fact]
    public async Task A_hit_in_a_slower_tier_is_promoted_into_the_faster_ones()
    {
        var memory = new MemoryTier(64 << 20);
        var disk = new DiskTier(_folder);
        var redis = new RedisTier(_redis, _prefix);
        var key = KeyFor(1);
        await new KvStore([redis]).PutAsync(key, KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint);
        var store = new KvStore([memory, disk, redis]);

        Assert.NotNull(await store.GetAsync(key, KvSamples.Fingerprint));
        await store.FlushPromotionsAsync();

        Assert.NotNull(await memory.GetAsync(key, default));
        Assert.True(File.Exists(disk.PathOf(key)));
        Assert.Equal([0L, 0L, 1L], store.Statistics.Select(s => s.Hits));
    }

    [Fact]
    public async Task A_redis_hit_decoded_from_its_lease_is_promoted_as_a_copy_that_outlives_the_lease()
    {
        var memory = new MemoryTier(64 << 20);
        var redis = new RedisTier(_redis, _prefix);
        var first = await new KvStore([redis]).PutAsync(KeyFor(1), KvSamples.Random(seed: 1), new Float16Codec(), KvSamples.Fingerprint);
        var second = await new KvStore([redis]).PutAsync(KeyFor(2), KvSamples.Random(seed: 2), new Float16Codec(), KvSamples.Fingerprint);
        var store = new KvStore([memory, redis]);

        var chunk = await store.GetAsync(KeyFor(1), KvSamples.Fingerprint);
        await store.FlushPromotionsAsync();
        // The lease's pooled buffer is back in its pool: reading another entry may reuse it.
        Assert.NotNull(await new KvStore([redis]).GetAsync(KeyFor(2), KvSamples.Fingerprint));

        Assert.Equal(ChunkCacheCodec.Decode(first, KvSamples.Fingerprint, KeyFor(1)).Kv.Keys[2], chunk!.Kv.Keys[2]);
        using var promoted = await memory.GetAsync(KeyFor(1), default);
        Assert.Equal(first, promoted!.Bytes.ToArray());
        Assert.NotEqual(second, promoted.Bytes.ToArray());
    }

    [Fact]
    public async Task A_streamed_redis_hit_is_read_in_place_until_disposed_and_promoted_only_then()
    {
        var memory = new MemoryTier(64 << 20);
        var redis = new RedisTier(_redis, _prefix);
        var kv = KvSamples.Random(seed: 3);
        var stored = await new KvStore([redis]).PutAsync(KeyFor(3), kv, new Float32Codec(), KvSamples.Fingerprint);
        var store = new KvStore([memory, redis]);

        var entry = await store.GetCheckedAsync(KeyFor(3), KvSamples.Fingerprint);
        Assert.IsType<StreamedEntry>(entry);
        store.StreamLayers([entry]);
        await store.FlushPromotionsAsync();
        Assert.Null(await memory.GetAsync(KeyFor(3), default)); // still on loan: nothing promoted yet

        var keys = new float[kv.Tokens * kv.RowWidth];
        var values = new float[keys.Length];
        entry.WriteLayer(1, keys, values);
        Assert.Equal(kv.Keys[1], keys);
        Assert.Equal(kv.Values[1], values);
        entry.Dispose();
        await store.FlushPromotionsAsync();

        using var promoted = await memory.GetAsync(KeyFor(3), default);
        Assert.Equal(stored, promoted!.Bytes.ToArray());
    }

    [Fact]
    public async Task Corruption_flipped_in_redis_is_detected_every_time_removed_and_never_served()
    {
        var redisTier = new RedisTier(_redis, _prefix);
        var store = new KvStore([redisTier]);
        var random = new Random(3);
        for (var trial = 0; trial < 20; trial++)
        {
            var key = KeyFor(trial);
            var entry = await store.PutAsync(key, KvSamples.Random(seed: trial), new Float16Codec(), KvSamples.Fingerprint);
            var offset = trial < 5 ? trial * 7 : random.Next(entry.Length); // header bytes first, then anywhere
            await FlipInRedisAsync(redisTier, key, entry, offset, (byte)(1 << random.Next(8)));

            Assert.Null(await store.GetAsync(key, KvSamples.Fingerprint));
            await store.FlushPromotionsAsync(); // a section found corrupt while decoding is removed in the background
            Assert.False(await _redis.GetDatabase().KeyExistsAsync(redisTier.KeyOf(key)));
        }
        Assert.Equal(20, store.Statistics[0].CorruptEntries);
    }

    [Fact]
    public async Task A_corrupt_layer_of_a_streamed_entry_is_refused_where_it_is_decoded_and_the_layers_before_it_are_served()
    {
        var redisTier = new RedisTier(_redis, _prefix);
        var store = new KvStore([redisTier]);
        var kv = KvSamples.Random(seed: 4);
        var entry = await store.PutAsync(KeyFor(4), kv, new Float32Codec(), KvSamples.Fingerprint);
        var header = ChunkCacheHeader.Read(entry);
        await FlipInRedisAsync(redisTier, KeyFor(4), entry, (int)header.Sections[2].Offset + 5, 0x10);

        using var streamed = await store.GetCheckedAsync(KeyFor(4), KvSamples.Fingerprint);
        store.StreamLayers([streamed]);
        var keys = new float[kv.Tokens * kv.RowWidth];
        var values = new float[keys.Length];
        streamed!.WriteLayer(1, keys, values);
        Assert.Equal(kv.Keys[1], keys);
        var lost = Assert.Throws<StoredLayerLostException>(() => streamed.WriteLayer(2, keys, values));
        Assert.Equal(2, lost.Layer);

        await store.FlushPromotionsAsync();
        Assert.False(await _redis.GetDatabase().KeyExistsAsync(redisTier.KeyOf(KeyFor(4))));
        Assert.Equal(1, store.Statistics[0].CorruptEntries);
    }

    [Fact]
    public async Task A_streamed_entry_that_lost_a_layer_in_redis_is_a_miss_and_removed_whole()
    {
        var redisTier = new RedisTier(_redis, _prefix);
        var store = new KvStore([redisTier]);
        await store.PutAsync(KeyFor(5), KvSamples.Random(seed: 5), new Float16Codec(), KvSamples.Fingerprint);
        await _redis.GetDatabase().HashDeleteAsync(redisTier.KeyOf(KeyFor(5)), RedisTier.FieldOf(1)); // evicted in part

        Assert.Null(await store.GetAsync(KeyFor(5), KvSamples.Fingerprint));
        await store.FlushPromotionsAsync();
        Assert.False(await _redis.GetDatabase().KeyExistsAsync(redisTier.KeyOf(KeyFor(5))));
        Assert.Equal(0, store.Statistics[0].CorruptEntries); // lost, not corrupt
    }

    [Fact]
    public async Task Redis_holds_an_entry_as_one_hash_of_its_header_and_layers_and_gives_it_back_whole()
    {
        var redisTier = new RedisTier(_redis, _prefix, TimeSpan.FromMinutes(5));
        var entry = await new KvStore([redisTier]).PutAsync(KeyFor(6), KvSamples.Random(seed: 6), new Int8Codec(), KvSamples.Fingerprint);
        var header = ChunkCacheHeader.Read(entry);
        var redisKey = redisTier.KeyOf(KeyFor(6));

        Assert.Equal(header.Layers + 1, await _redis.GetDatabase().HashLengthAsync(redisKey));
        Assert.NotNull(await _redis.GetDatabase().KeyTimeToLiveAsync(redisKey));
        using (var headerBytes = await redisTier.GetHeaderAsync(KeyFor(6), default))
        {
            Assert.Equal(entry[..header.Size], headerBytes!.Bytes.ToArray());
        }
        var last = header.Sections[^1];
        using (var section = await redisTier.GetSectionAsync(KeyFor(6), header.Layers - 1, default))
        {
            Assert.Equal(entry.AsSpan((int)last.Offset, last.Length).ToArray(), section!.Bytes.ToArray());
        }
        using (var whole = await redisTier.GetAsync(KeyFor(6), default))
        {
            Assert.Equal(entry, whole!.Bytes.ToArray());
        }
        await redisTier.RemoveAsync(KeyFor(6), default);
        Assert.Null(await redisTier.GetHeaderAsync(KeyFor(6), default));
    }

    /// <summary>XORs one byte of the entry as Redis holds it (in the header's field or a layer's), as a bit flip at rest would.</summary>
    private async Task FlipInRedisAsync(RedisTier tier, ChunkCacheKey key, byte[] entry, int offset, byte mask)
    {
        var header = ChunkCacheHeader.Read(entry);
        var layer = Array.FindIndex(header.Sections, s => offset >= s.Offset && offset < s.Offset + s.Length);
        var field = layer < 0 ? (RedisValue)"h" : RedisTier.FieldOf(layer);
        var start = layer < 0 ? 0 : (int)header.Sections[layer].Offset;
        var bytes = (byte[])(await _redis.GetDatabase().HashGetAsync(tier.KeyOf(key), field))!;
        bytes[offset - start] ^= mask;
        await _redis.GetDatabase().HashSetAsync(tier.KeyOf(key), field, bytes);
    }

    [Fact]
    public async Task Corruption_on_disk_is_detected_every_time_and_the_next_tier_serves_instead()
    {
        var disk = new DiskTier(_folder);
        var redis = new RedisTier(_redis, _prefix);
        var store = new KvStore([disk, redis]);
        var random = new Random(5);
        for (var trial = 0; trial < 20; trial++)
        {
            var key = KeyFor(trial);
            var kv = KvSamples.Random(seed: trial);
            await store.PutAsync(key, kv, new Float32Codec(), KvSamples.Fingerprint);
            var bytes = await File.ReadAllBytesAsync(disk.PathOf(key));
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            await File.WriteAllBytesAsync(disk.PathOf(key), trial % 2 == 0 ? bytes : bytes[..(bytes.Length / 2)]);

            var chunk = await store.GetAsync(key, KvSamples.Fingerprint);

            Assert.NotNull(chunk); // from Redis, intact
            Assert.Equal(kv.Keys[1], chunk.Kv.Keys[1]);
        }
        Assert.Equal(20, store.Statistics[0].CorruptEntries);
        Assert.Equal(20, store.Statistics[1].Hits);
    }

    [Fact]
    public async Task Redis_stopped_mid_run_is_bypassed_and_used_again_after_it_returns()
    {
        using var server = new RedisServer();
        using var connection = await RedisConnections.ConnectAsync(server.Configuration);
        var options = new KvStoreOptions { BypassAfterFault = TimeSpan.FromMilliseconds(300), TierTimeout = TimeSpan.FromSeconds(1) };
        var redis = new RedisTier(connection, _prefix);
        var store = new KvStore([new DiskTier(_folder), redis], options);
        await store.PutAsync(KeyFor(1), KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint);
        Assert.NotNull(await redis.GetAsync(KeyFor(1), default));

        server.Stop();
        // Reads keep working from disk; writes still reach disk; nothing throws.
        Assert.NotNull(await store.GetAsync(KeyFor(1), KvSamples.Fingerprint));
        await store.PutAsync(KeyFor(2), KvSamples.Random(seed: 2), new Float16Codec(), KvSamples.Fingerprint);
        Assert.Null(await store.GetAsync(KeyFor(3), KvSamples.Fingerprint));
        Assert.NotNull(await store.GetAsync(KeyFor(2), KvSamples.Fingerprint));
        Assert.True(store.Statistics[1].Faults >= 1);

        server.Start();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!connection.IsConnected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        await Task.Delay(options.BypassAfterFault * 4); // the bypass has run out (it doubles per fault in a row)
        var again = ChunkCacheCodec.Encode(KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint, KeyFor(4));
        await store.PutAsync(KeyFor(4), again);

        using var read = await redis.GetAsync(KeyFor(4), default);
        Assert.Equal(again, read!.Bytes.ToArray());
    }

    [Fact]
    public async Task Concurrent_writers_and_readers_of_one_key_never_see_a_torn_entry()
    {
        var store = new KvStore([new DiskTier(_folder), new RedisTier(_redis, _prefix)]);
        var key = KeyFor(7);
        var versions = new[] { KvSamples.Random(seed: 1), KvSamples.Random(seed: 2) };
        var entries = versions.Select(v => ChunkCacheCodec.Encode(v, new Float16Codec(), KvSamples.Fingerprint, key)).ToArray();
        var firstKeys = entries.Select(e => ChunkCacheCodec.Decode(e, KvSamples.Fingerprint, key).Kv.Keys[0][0]).ToArray();

        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                await store.PutAsync(key, entries[(w + i) % 2]);
            }
        }));
        var seen = 0;
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                if (await store.GetAsync(key, KvSamples.Fingerprint) is { } chunk)
                {
                    Assert.Contains(chunk.Kv.Keys[0][0], firstKeys);
                    Interlocked.Increment(ref seen);
                }
            }
        }));
        await Task.WhenAll(writers.Concat(readers));

        Assert.True(seen > 0);
        Assert.All(store.Statistics, s => Assert.Equal(0, s.CorruptEntries));
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task The_memory_tier_evicts_the_least_recently_used_entries_beyond_its_byte_budget()
    {
        var entry = new byte[1000];
        var memory = new MemoryTier(2500);
        await memory.PutAsync(KeyFor(1), entry, default);
        await memory.PutAsync(KeyFor(2), entry, default);
        await memory.GetAsync(KeyFor(1), default); // 1 is now more recent than 2
        await memory.PutAsync(KeyFor(3), entry, default);

        Assert.NotNull(await memory.GetAsync(KeyFor(1), default));
        Assert.Null(await memory.GetAsync(KeyFor(2), default));
        Assert.NotNull(await memory.GetAsync(KeyFor(3), default));
        Assert.Equal(2000, memory.BytesHeld);
        await memory.PutAsync(KeyFor(4), new byte[3000], default); // larger than the budget: not kept
        Assert.Equal(2000, memory.BytesHeld);
    }

    [Fact]
    public async Task A_put_that_reaches_no_tier_throws_and_one_that_reaches_some_counts_them()
    {
        var broken = new FaultyTier();
        var store = new KvStore([broken, new MemoryTier(64 << 20)]);
        var entry = ChunkCacheCodec.Encode(KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint, KeyFor(1));
        Assert.Equal(1, await store.PutAsync(KeyFor(1), entry));
        Assert.NotNull(await store.GetAsync(KeyFor(1), KvSamples.Fingerprint));

        var alone = new KvStore([new FaultyTier()]);
        var error = await Assert.ThrowsAsync<KvStoreWriteException>(() =>
            alone.PutAsync(KeyFor(2), KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint));
        Assert.Contains("no tier", error.Message, StringComparison.Ordinal);
        // Bypassed after its fault, the tier takes nothing: still an error, never a silent success.
        await Assert.ThrowsAsync<KvStoreWriteException>(() =>
            alone.PutAsync(KeyFor(3), ChunkCacheCodec.Encode(KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint, KeyFor(3))));
    }

    /// <summary>An intact entry copied over another key's (a file renamed, a tier mixed up) is the cache of another chunk: a miss, removed, never served.</summary>
    [Fact]
    public async Task An_intact_entry_under_another_key_is_refused_and_removed_and_never_stored_so()
    {
        var memory = new MemoryTier(64 << 20);
        var store = new KvStore([memory]);
        var entry = ChunkCacheCodec.Encode(KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint, KeyFor(1));
        await memory.PutAsync(KeyFor(2), entry, default); // behind the store's back

        Assert.Null(await store.GetAsync(KeyFor(2), KvSamples.Fingerprint));
        Assert.Equal(1, store.Statistics[0].CorruptEntries);
        Assert.Null(await memory.GetAsync(KeyFor(2), default));
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync(KeyFor(2), entry));
        Assert.Contains("another key", refused.Message, StringComparison.Ordinal);
        Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode(entry, KvSamples.Fingerprint, KeyFor(2)));
    }

    [Fact]
    public async Task A_hit_in_a_slow_tier_is_returned_before_its_promotion_is_written()
    {
        var gated = new GatedTier(new MemoryTier(64 << 20));
        var slower = new MemoryTier(64 << 20);
        var key = KeyFor(5);
        await new KvStore([slower]).PutAsync(key, KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint);
        var store = new KvStore([gated, slower], new KvStoreOptions { TierTimeout = TimeSpan.FromMinutes(1) });

        // The faster tier's write (a disk fsync, in production) is held; the read must not wait for it.
        var read = store.GetAsync(key, KvSamples.Fingerprint);
        Assert.Same(read, await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(10))));
        Assert.NotNull(await read);
        Assert.Null(await gated.Inner.GetAsync(key, default));

        gated.Open();
        await store.FlushPromotionsAsync();
        Assert.NotNull(await gated.Inner.GetAsync(key, default));
    }

    [Theory]
    [InlineData(400, true)] // slower than the round-trip timeout, within the time its bytes are allowed
    [InlineData(2500, false)] // past that too: a fault, and the entry is a miss
    public async Task A_layer_request_is_allowed_the_time_its_bytes_take_and_no_more(int delayMilliseconds, bool served)
    {
        var tier = new SlowSectionsTier(new RedisTier(_redis, _prefix), TimeSpan.FromMilliseconds(delayMilliseconds));
        var entry = ChunkCacheCodec.Encode(KvSamples.Random(seed: 9), new Float16Codec(), KvSamples.Fingerprint, KeyFor(9));
        // 200 ms a call, plus one second for this entry's bytes.
        var options = new KvStoreOptions { TierTimeout = TimeSpan.FromMilliseconds(200), SlowestBytesPerSecond = entry.Length };
        var store = new KvStore([tier], options);
        await store.PutAsync(KeyFor(9), entry);

        var chunk = await store.GetAsync(KeyFor(9), KvSamples.Fingerprint);

        Assert.Equal(served, chunk is not null);
        Assert.Equal(served ? 0 : 1, store.Statistics[0].Faults);
    }

    [Fact]
    public async Task Removing_a_key_no_tier_ever_held_is_no_fault_and_bypasses_nothing()
    {
        var store = new KvStore([new MemoryTier(1 << 20), new DiskTier(_folder), new RedisTier(_redis, _prefix)]);

        await store.RemoveAsync(KeyFor(8)); // the disk tier has no folder for it: File.Delete would throw

        Assert.All(store.Statistics, s => Assert.Equal((0, false), (s.Faults, s.Bypassed)));
    }

    [Fact]
    public async Task The_disk_tier_evicts_the_least_recently_used_files_beyond_its_byte_budget_and_remembers_across_restarts()
    {
        var entry = new byte[1000];
        var disk = new DiskTier(_folder, capacityBytes: 2500);
        await disk.PutAsync(KeyFor(1), entry, default);
        await Task.Delay(20); // distinct modification times, which recency survives a restart by
        await disk.PutAsync(KeyFor(2), entry, default);
        await Task.Delay(20);
        await disk.GetAsync(KeyFor(1), default); // 1 is now more recent than 2
        await Task.Delay(20);
        await disk.PutAsync(KeyFor(3), entry, default);

        Assert.True(File.Exists(disk.PathOf(KeyFor(1))));
        Assert.False(File.Exists(disk.PathOf(KeyFor(2))));
        Assert.True(File.Exists(disk.PathOf(KeyFor(3))));
        Assert.Equal(2000, disk.BytesHeld);
        await Assert.ThrowsAsync<IOException>(() => disk.PutAsync(KeyFor(4), new byte[3000], default));

        // A smaller budget on restart keeps the newest files that fit.
        File.WriteAllBytes(Path.Combine(Path.GetDirectoryName(disk.PathOf(KeyFor(3)))!, "x.ckv.1234.tmp"), entry);
        var reopened = new DiskTier(_folder, capacityBytes: 1500);
        Assert.Equal(1000, reopened.BytesHeld);
        Assert.True(File.Exists(disk.PathOf(KeyFor(3))));
        Assert.False(File.Exists(disk.PathOf(KeyFor(1))));
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp", SearchOption.AllDirectories));
    }

    /// <summary>A tier whose every call fails, as a full disk or a dead server does.</summary>
    private sealed class FaultyTier : IKvTier
    {
        public string Name => "faulty";
        public Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken) => throw new IOException("device gone");
        public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken) => throw new IOException("device gone");
        public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) => throw new IOException("device gone");
        public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => throw new IOException("device gone");
    }

    /// <summary>A layered tier whose sections each take <paramref name="delay"/> to come.</summary>
    private sealed class SlowSectionsTier(RedisTier inner, TimeSpan delay) : ILayeredKvTier
    {
        public string Name => "slow";
        public Task<TierEntry?> GetHeaderAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.GetHeaderAsync(key, cancellationToken);
        public async Task<TierEntry?> GetSectionAsync(ChunkCacheKey key, int layer, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            return await inner.GetSectionAsync(key, layer, cancellationToken);
        }
        public Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);
        public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken) => inner.PutAsync(key, entry, cancellationToken);
        public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.RemoveAsync(key, cancellationToken);
        public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.ContainsAsync(key, cancellationToken);
    }

    /// <summary>A tier whose writes wait until the test opens the gate.</summary>
    private sealed class GatedTier(IKvTier inner) : IKvTier
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public IKvTier Inner => inner;
        public string Name => "gated";
        public void Open() => _gate.TrySetResult();
        public Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);
        public async Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
        {
            await _gate.Task;
            await inner.PutAsync(key, entry, cancellationToken);
        }
        public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.RemoveAsync(key, cancellationToken);
        public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.ContainsAsync(key, cancellationToken);
    }
}
