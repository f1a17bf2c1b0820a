using System.Diagnostics;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Caching.Tiers;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Fusion;
using StackExchange.Redis;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// Put and get throughput of each tier with each codec, on random K/V at the Qwen2.5-0.5B shape
/// (24 layers, 2 KV heads of 64), against a plain in-memory copy of the same bytes measured in the
/// same run. Tier figures move encoded bytes (Redis's get streams header and sections, as fusion reads them); "checked get" adds the store's CRC checks and decoding.
/// Each codec's reconstruction error is measured on that synthetic K/V (Gaussian with outlier key
/// channels) and on K/V that the engine computes for a chunk of random tokens.
/// </summary>
public static class StoreBenchmark
{
    /// <param name="KvModel">The shape whose engine K/V the codec errors are also measured on; null skips it.</param>
    public sealed record Settings(int Tokens, double SecondsPerFigure, string? Redis, string? Folder,
        ModelShape? KvModel, string ModelCache);

    private const int Layers = 24, KvHeads = 2, HeadDim = 64, Chunks = 4;

    public static async Task<StoreReport> RunAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var random = new Random(42);
        var kv = RandomKv(settings.Tokens, random);
        var fingerprint = new byte[ChunkCacheHeader.FingerprintBytes];
        random.NextBytes(fingerprint);
        // One entry measured under many keys in the tiers below: the codec figures read it back under its own.
        var key = ChunkCacheKey.Compute(fingerprint, KvCodec.Create(KvCodecId.F32), [settings.Tokens]);
        var engineKv = settings.KvModel is null ? null : EngineKv(settings, progress);

        var codecs = new List<CodecFigures>();
        var entries = new Dictionary<KvCodecId, byte[]>();
        foreach (var id in Enum.GetValues<KvCodecId>())
        {
            var codec = KvCodec.Create(id);
            var entry = ChunkCacheCodec.Encode(kv, codec, fingerprint, key);
            entries[id] = entry;
            var encodeSeconds = Time(() => ChunkCacheCodec.Encode(kv, codec, fingerprint, key), settings.SecondsPerFigure / 2);
            var decodeSeconds = Time(() => ChunkCacheCodec.Decode(entry, fingerprint, key), settings.SecondsPerFigure / 2);
            codecs.Add(new CodecFigures(KvCodec.Name(id), (double)entry.Length / settings.Tokens,
                Reconstruction(kv, entry, fingerprint, key),
                engineKv is null ? null : Reconstruction(engineKv, ChunkCacheCodec.Encode(engineKv, codec, fingerprint, key), fingerprint, key),
                Megabytes(entry.Length) / encodeSeconds, Megabytes(entry.Length) / decodeSeconds, encodeSeconds * 1e3, decodeSeconds * 1e3));
        }

        var memcpy = MemcpyMegabytesPerSecond(entries[KvCodecId.F16].Length, settings.SecondsPerFigure);
        var tiers = new List<TierFigures>();
        var notes = new List<string> { "the memory tier hands entries back by reference: its get is a lookup, not a copy" };
        var folder = settings.Folder ?? Directory.CreateTempSubdirectory("chunkkv-bench-").FullName;
        ConnectionMultiplexer? redis = null;
        IReadOnlyList<RedisRound>? redisRounds = null;
        try
        {
            var candidates = new List<IKvTier> { new MemoryTier(1L << 30), new DiskTier(folder) };
            if (settings.Redis is { Length: > 0 })
            {
                redis = await RedisConnections.ConnectAsync(settings.Redis);
                if (redis.IsConnected)
                {
                    candidates.Add(new RedisTier(redis, $"chunkkv:bench:{Guid.NewGuid():N}:"));
                }
                else
                {
                    notes.Add($"redis at '{settings.Redis}' unreachable: tier skipped");
                }
            }
            else
            {
                notes.Add("redis not configured (CHUNKKV_REDIS or --redis): tier skipped");
            }
            foreach (var tier in candidates)
            {
                foreach (var (id, entry) in entries)
                {
                    var codec = KvCodec.Create(id);
                    tiers.Add(await MeasureTierAsync(tier, id, entry, k => ChunkCacheCodec.Encode(kv, codec, fingerprint, k), fingerprint, memcpy,
                        settings.SecondsPerFigure, cancellationToken));
                }
            }
            if (redis is { IsConnected: true })
            {
                var (rounds, note) = await PairWithRedisBenchmarkAsync((RedisTier)candidates[^1], settings, entries[KvCodecId.F16],
                    k => ChunkCacheCodec.Encode(kv, KvCodec.Create(KvCodecId.F16), fingerprint, k), fingerprint, cancellationToken);
                redisRounds = rounds;
                if (note is not null)
                {
                    notes.Add(note);
                }
                await redis.GetDatabase().KeyDeleteAsync("key:__rand_int__"); // what redis-benchmark's SET wrote
            }
        }
        finally
        {
            redis?.Dispose();
            if (settings.Folder is null)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        if (engineKv is not null)
        {
            notes.Add($"engine K/V: {settings.KvModel!.Name} with random weights, {engineKv.Tokens} random tokens, keys after RoPE");
        }
        return new StoreReport(settings.Tokens, "qwen2.5-0.5b", memcpy, tiers, codecs, notes,
            redisRounds is null ? null : StoreReport.MedianRound(redisRounds).Baseline)
        {
            RedisRounds = redisRounds,
        };
    }

    /// <summary>The K/V of a chunk of random tokens, as ingestion computes it.</summary>
    private static KvCache EngineKv(Settings settings, TextWriter progress)
    {
        using var model = LanguageModel.Load(BenchModels.Ensure(settings.KvModel!, settings.ModelCache, progress));
        var random = new Random(7);
        var ids = Enumerable.Range(0, settings.Tokens).Select(_ => random.Next(model.Config.VocabSize)).ToArray();
        return PromptCacheComputation.Chunk(model.Transformer, prefix: null, ids);
    }

    /// <param name="entryOf">The same K/V encoded under a key: an entry names the key it is the cache of, and a checked read refuses it under another.</param>
    private static async Task<TierFigures> MeasureTierAsync(IKvTier tier, KvCodecId codec, byte[] entry, Func<ChunkCacheKey, byte[]> entryOf,
        byte[] fingerprint, double memcpy, double seconds, CancellationToken cancellationToken)
    {
        var keys = Enumerable.Range(0, Chunks)
            .Select(i => ChunkCacheKey.Compute(fingerprint, KvCodec.Create(codec), [i, (int)codec])).ToArray();
        var entries = keys.ToDictionary(k => k, entryOf);
        // Each write goes where no entry is (Redis keeps an entry it holds instead of writing it again).
        var put = await TimeAsync(() => Task.WhenAll(keys.Select(k => tier.PutAsync(k, entries[k], cancellationToken))), seconds,
            prepare: () => Task.WhenAll(keys.Select(k => tier.RemoveAsync(k, cancellationToken))));
        var get = await TimeAsync(() => GetAllAsync(tier, keys, cancellationToken), seconds);
        var store = new KvStore([tier]);
        var checkedGet = await TimeAsync(async () =>
        {
            foreach (var key in keys)
            {
                _ = await store.GetAsync(key, fingerprint, cancellationToken) ?? throw new InvalidOperationException("benchmark entry missing");
            }
        }, seconds);
        foreach (var key in keys)
        {
            await tier.RemoveAsync(key, cancellationToken);
        }
        var bytes = Megabytes((long)entry.Length * Chunks);
        return new TierFigures(tier.Name, KvCodec.Name(codec), bytes / put, bytes / get, bytes / checkedGet, bytes / get / memcpy);
    }

    /// <summary>
    /// Reads the entries as fusion does: a layered tier (Redis) streams each entry's header, then all
    /// its sections at once, into pooled leases that fusion decodes in place
    /// (<see cref="KvStore.StreamLayers"/>); another tier hands back the whole entry. The store's
    /// one-piece read of a Redis entry (assembled into one buffer, a copy fusion never makes) is in
    /// the checked get.
    /// </summary>
    private static async Task GetAllAsync(IKvTier tier, ChunkCacheKey[] keys, CancellationToken cancellationToken)
    {
        if (tier is not ILayeredKvTier layered)
        {
            foreach (var entry in await Task.WhenAll(keys.Select(k => tier.GetAsync(k, cancellationToken))))
            {
                entry?.Dispose();
            }
            return;
        }
        await Task.WhenAll(keys.Select(async key =>
        {
            using var header = await layered.GetHeaderAsync(key, cancellationToken) ?? throw new InvalidOperationException("benchmark entry missing");
            var layers = ChunkCacheHeader.ReadHeader(header.Bytes.Span).Layers;
            foreach (var section in await Task.WhenAll(Enumerable.Range(0, layers).Select(layer => layered.GetSectionAsync(key, layer, cancellationToken))))
            {
                section?.Dispose(); // a lease goes back to its pool
            }
        }));
    }

    /// <summary>Rounds of the paired measurement below.</summary>
    public const int RedisRounds = 3;

    /// <summary>
    /// The Redis tier's f16 GET against redis-benchmark's, in <see cref="RedisRounds"/> rounds that each
    /// run redis-benchmark and then time the tier right after it: on a machine whose speed drifts over
    /// seconds, a ratio of two figures taken minutes apart measures the drift (0.7× to 1.3× from run to
    /// run here), one of figures taken side by side the clients.
    /// </summary>
    private static async Task<(IReadOnlyList<RedisRound>? Rounds, string? Note)> PairWithRedisBenchmarkAsync(RedisTier tier, Settings settings, byte[] entry,
        Func<ChunkCacheKey, byte[]> entryOf, byte[] fingerprint, CancellationToken cancellationToken)
    {
        var keys = Enumerable.Range(0, Chunks).Select(i => ChunkCacheKey.Compute(fingerprint, KvCodec.Create(KvCodecId.F16), [i, -1])).ToArray();
        foreach (var key in keys)
        {
            await tier.PutAsync(key, entryOf(key), cancellationToken);
        }
        try
        {
            var rounds = new List<RedisRound>();
            for (var round = 0; round < RedisRounds; round++)
            {
                // The tier's GETs run Chunks at a time, so the baseline gets as many clients.
                var (figures, note) = await RedisBenchmarkBaseline.RunAsync(settings.Redis!, entry.Length, Chunks, cancellationToken);
                if (figures is null)
                {
                    return (null, note);
                }
                var seconds = await TimeAsync(() => GetAllAsync(tier, keys, cancellationToken), settings.SecondsPerFigure);
                var tierGet = Megabytes((long)entry.Length * Chunks) / seconds;
                rounds.Add(new RedisRound(figures, tierGet, tierGet / figures.GetMegabytesPerSecond));
            }
            return (rounds, null);
        }
        finally
        {
            foreach (var key in keys)
            {
                await tier.RemoveAsync(key, cancellationToken);
            }
        }
    }

    private static KvCache RandomKv(int tokens, Random random)
    {
        var kv = new KvCache(Layers, KvHeads, HeadDim, Enumerable.Range(0, tokens).ToArray(), KeyForm.PreRope);
        for (var layer = 0; layer < Layers; layer++)
        {
            for (var i = 0; i < kv.Keys[layer].Length; i++)
            {
                // Key channels differ in scale (outlier channels), as in real models.
                kv.Keys[layer][i] = (i % kv.RowWidth % 17 == 3 ? 8f : 1f) * Gaussian(random);
                kv.Values[layer][i] = Gaussian(random);
            }
        }
        return kv;
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

    /// <summary>How far the decoded entry is from the K/V it was encoded from, over every layer's keys and values.</summary>
    private static ReconstructionError Reconstruction(KvCache original, byte[] entry, byte[] fingerprint, ChunkCacheKey key)
    {
        var decoded = ChunkCacheCodec.Decode(entry, fingerprint, key).Kv;
        double max = 0, squaredError = 0, squaredValue = 0;
        long count = 0;
        for (var layer = 0; layer < original.Layers; layer++)
        {
            foreach (var (x, y) in new[] { (original.Keys[layer], decoded.Keys[layer]), (original.Values[layer], decoded.Values[layer]) })
            {
                for (var i = 0; i < x.Length; i++)
                {
                    var d = Math.Abs((double)x[i] - y[i]);
                    max = Math.Max(max, d);
                    squaredError += d * d;
                    squaredValue += (double)x[i] * x[i];
                }
                count += x.Length;
            }
        }
        return new ReconstructionError(max, Math.Sqrt(squaredError / count), Math.Sqrt(squaredError / squaredValue));
    }

    private static double MemcpyMegabytesPerSecond(int bytes, double seconds)
    {
        var source = new byte[bytes * Chunks];
        var destination = new byte[bytes * Chunks];
        Random.Shared.NextBytes(source);
        return Megabytes(source.Length) / Time(() => source.AsSpan().CopyTo(destination), seconds);
    }

    /// <summary>
    /// Mean seconds of one call, over as many calls as fit in the budget, after warming up for half
    /// of it (the JIT's tiering and the thread pool settle in that time, not in one call).
    /// </summary>
    private static double Time(Action action, double budgetSeconds)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            action();
        } while (clock.Elapsed.TotalSeconds < budgetSeconds / 2);
        clock.Restart();
        var runs = 0;
        do
        {
            action();
            runs++;
        } while (clock.Elapsed.TotalSeconds < budgetSeconds);
        return clock.Elapsed.TotalSeconds / runs;
    }

    /// <summary>Seconds one <paramref name="action"/> takes, after a warm-up; <paramref name="prepare"/> runs before each, untimed.</summary>
    private static async Task<double> TimeAsync(Func<Task> action, double budgetSeconds, Func<Task>? prepare = null)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            await (prepare?.Invoke() ?? Task.CompletedTask);
            await action();
        } while (clock.Elapsed.TotalSeconds < budgetSeconds / 2);
        var timed = TimeSpan.Zero;
        var wall = Stopwatch.StartNew();
        var runs = 0;
        do
        {
            await (prepare?.Invoke() ?? Task.CompletedTask);
            clock.Restart();
            await action();
            timed += clock.Elapsed;
            runs++;
        } while (wall.Elapsed.TotalSeconds < budgetSeconds);
        return timed.TotalSeconds / runs;
    }

    private static double Megabytes(long bytes) => bytes / 1e6;
}
