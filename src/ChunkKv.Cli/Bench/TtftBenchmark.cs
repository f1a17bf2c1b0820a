using System.Diagnostics;
using System.Text.Json;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Fusion;
using ChunkKv.Inference.Models;
using StackExchange.Redis;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// Time to first token per fusion method at a real shape with random weights: caches loaded from
/// the chosen store, fused, the question computed. Against <c>full</c> (a plain prefill) and
/// against the floor — the question's prefill alone over an already-fused cache, plus the fused
/// K/V's bytes at the memory copy speed — both measured in the same run. Each method's TTFT
/// (<see cref="FusedPrompt.Ttft"/>, as eval and the server define it) is its median over the rounds;
/// its speed-up is the median of each round's full / method, and its ratio to the floor the median
/// of each round's method / floor (the floor is timed in every round, beside the methods). Prompts go through a runtime's
/// collection context, the path the server answers on.
/// </summary>
public static class TtftBenchmark
{
    public sealed record Settings(ModelShape Shape, int Chunks, int ChunkTokens, int QuestionTokens, int PrefixTokens,
        IReadOnlyList<FusionMethod> Methods, string Store, KvCodecId Codec, string? Redis, int Repeats, string ModelCache, bool Cold = false,
        WeightChoice? Weights = null);

    /// <summary>The first query after a restart: <c>reuse</c> on a fresh Redis connection, nothing in memory.</summary>
    /// <param name="Ratio">Its TTFT over the warm <c>reuse</c> median.</param>
    public sealed record ColdStart(double TtftSeconds, double LoadSeconds, double WarmTtftSeconds, double Ratio);

    /// <param name="Flops">The arithmetic of the method's schedule (<see cref="FusionWork"/>).</param>
    /// <param name="FlopSpeedup">full's FLOPs over the method's: the speed-up its schedule allows on paper.</param>
    /// <param name="Speedup">full's TTFT over the method's, round by round; null when full was not among the methods.</param>
    /// <param name="RatioToFloor">The method's TTFT over the floor, round by round.</param>
    public sealed record Result(string Method, double TtftSeconds, double? Speedup, double RatioToFloor, int Recomputed,
        double Flops, double FlopSpeedup, IReadOnlyDictionary<string, double> Breakdown)
    {
        /// <summary>Each round's TTFT, in round order.</summary>
        public IReadOnlyList<double> TtftRoundsSeconds { get; init; } = [];
    }

    public sealed record Report(string Shape, string Store, string Codec, int ContextTokens, double FloorSeconds,
        double QuestionPrefillSeconds, double CopyGigabytesPerSecond, long FusedKvBytes, IReadOnlyList<Result> Results)
    {
        /// <summary>Each round's floor, in round order (<see cref="FloorSeconds"/> is their median).</summary>
        public IReadOnlyList<double> FloorRoundsSeconds { get; init; } = [];

        /// <summary>With --cold: the first query after a restart.</summary>
        public ColdStart? Cold { get; init; }

        /// <summary>The type the layers' matrices were kept as (<c>--weights</c>; the bench model stores bf16).</summary>
        public string Weights { get; init; } = "";

        private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

        public string ToJson() => JsonSerializer.Serialize(this, SnakeCase) + Environment.NewLine;

        public string ToTable()
        {
            var lines = new List<string>
            {
                Invariant($"shape {Shape}, weights {Weights}, store {Store} ({Codec}), {ContextTokens} context tokens"),
                Invariant($"floor {FloorSeconds * 1000:F1} ms = question prefill {QuestionPrefillSeconds * 1000:F1} ms + {FusedKvBytes / 1e6:F0} MB of K/V at {CopyGigabytesPerSecond:F1} GB/s"),
                Invariant($"{"method",-18} {"TTFT ms",9} {"speed-up",9} {"FLOPs x",8} {"share",6} {"x floor",8} {"load",8} {"fill",8} {"waited",8} {"compute",8} {"rows",6}"),
            };
            lines.AddRange(Results.Select(r => Invariant(
                $"{r.Method,-18} {r.TtftSeconds * 1000,9:F1} {Format(r.Speedup, "F2"),8}x {r.FlopSpeedup,7:F2}x {Format(r.Speedup / r.FlopSpeedup, "F3"),6} {r.RatioToFloor,7:F2}x {r.Breakdown["load"] * 1000,8:F1} {r.Breakdown["fill"] * 1000,8:F1} {r.Breakdown["fill_wait"] * 1000,8:F1} {r.Breakdown["compute"] * 1000,8:F1} {r.Recomputed,6}")));
            lines.Add("FLOPs x: full's arithmetic over the method's (its schedule's rows and the keys they attend), the speed-up it allows on paper; share: the speed-up over it");
            if (Cold is { } cold)
            {
                lines.Add(Invariant($"cold start (reuse, a fresh Redis connection, nothing in memory): {cold.TtftSeconds * 1000:F1} ms (load {cold.LoadSeconds * 1000:F1} ms), {cold.Ratio:F2}x the warm {cold.WarmTtftSeconds * 1000:F1} ms"));
            }
            return string.Join(Environment.NewLine, lines) + Environment.NewLine;
        }

        private static string Format(double? value, string format) =>
            value is { } v ? v.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "-";

        private static string Invariant(FormattableString text) => text.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task<Report> RunAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var directory = BenchModels.Ensure(settings.Shape, settings.ModelCache, progress);
        using var model = LanguageModel.Load(directory, weights: settings.Weights);
        var transformer = model.Transformer;
        var random = new Random(7);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => random.Next(model.Config.VocabSize)).ToArray();
        using var tier = await OpenTierAsync(settings);
        var store = new KvStore([tier.Tier]);
        var runtime = new ChunkKvRuntime(model, store, KvCodec.Create(settings.Codec));
        var context = runtime.ForPrefixTokens(Tokens(settings.PrefixTokens));
        var prompt = context.Prompt(Enumerable.Range(0, settings.Chunks).Select(_ => Tokens(settings.ChunkTokens)).ToList(), Tokens(settings.QuestionTokens));
        progress.WriteLine($"computing and storing {settings.Chunks} chunk caches in {settings.Store} ...");
        await context.StoreCachesAsync(prompt, cancellationToken);

        // Warm the JIT and the workspaces: full on a short prompt (at a real shape the whole prompt
        // takes seconds), every other method once on the prompt itself (its kept buffers too).
        (await context.FuseAsync(context.Prompt([prompt.Chunks[0]], prompt.Question), FusionMethod.Full, 1, cancellationToken)).Dispose();
        foreach (var method in settings.Methods.Where(m => m != FusionMethod.Full))
        {
            await RunOnceAsync(method);
        }
        // The floor: the question alone over a fused cache already in place, and the K/V's bytes copied once.
        using var placed = await context.FuseAsync(prompt, FusionMethod.Reuse, answerTokens: 1, cancellationToken);
        var kvBytes = 2L * model.Config.Layers * prompt.ContextLength * model.Config.KvHeads * model.Config.HeadDim * sizeof(float);
        var copyGbps = CopySpeed(kvBytes);
        double QuestionSeconds()
        {
            var sequence = placed.Fusion.Sequence;
            sequence.Truncate(prompt.ContextLength);
            var floorClock = Stopwatch.StartNew();
            transformer.Prefill(prompt.Question, Enumerable.Range(prompt.ContextLength, prompt.Question.Length).ToArray(), sequence);
            return floorClock.Elapsed.TotalSeconds;
        }
        QuestionSeconds(); // its workspace warmed as the methods' were

        // Rounds of every method in turn, then the floor, so a machine that drifts slower or faster
        // over the minutes of a run slows each alike, and each round's ratios pair runs taken side by side.
        var runs = settings.Methods.ToDictionary(m => m, _ => new List<Run>());
        var questionRuns = new List<double>();
        for (var round = 0; round < settings.Repeats; round++)
        {
            foreach (var method in settings.Methods)
            {
                runs[method].Add(await RunOnceAsync(method));
            }
            questionRuns.Add(QuestionSeconds());
            progress.WriteLine($"round {round + 1} of {settings.Repeats}: " + string.Join(", ", settings.Methods.Select(m => $"{m.Name} {runs[m][round].Ttft * 1000:F1} ms")));
        }
        var counters = store.Statistics[0];
        progress.WriteLine($"{counters.Tier}: {counters.Hits} hits, {counters.Misses} misses, {counters.Faults} faults");
        var full = settings.Methods.FirstOrDefault(m => m == FusionMethod.Full);
        var copySeconds = kvBytes / (copyGbps * 1e9);
        var floors = questionRuns.Select(q => q + copySeconds).ToList();
        var results = settings.Methods.Select(method =>
        {
            var median = runs[method].OrderBy(r => r.Ttft).ElementAt(runs[method].Count / 2);
            double? speedup = full is null ? null : Statistics.Median(runs[full].Zip(runs[method], (f, m) => f.Ttft / m.Ttft));
            var toFloor = Statistics.Median(runs[method].Zip(floors, (m, floor) => m.Ttft / floor));
            return (Method: method, Median: median, Speedup: speedup, ToFloor: toFloor);
        }).ToList();

        async Task<Run> RunOnceAsync(FusionMethod method)
        {
            using var fused = await context.FuseAsync(prompt, method, answerTokens: 1, cancellationToken);
            return new Run(fused.Ttft.TotalSeconds, fused.KvLoad.TotalSeconds, fused.Fusion);
        }

        var questionSeconds = Statistics.Median(questionRuns);
        var floor = questionSeconds + copySeconds;

        double Flops(Run run) => run.Fused.Work.Flops(model.Config);
        var fullFlops = FusionWork.OfPrefill(model.Config.Layers, prompt.Length).Flops(model.Config);
        ColdStart? cold = null;
        if (settings.Cold)
        {
            // A restarted server: it connects at start-up (as the server does), then its first query finds every cache in Redis only.
            using var fresh = await RedisConnections.ConnectAsync(settings.Redis!);
            var coldRuntime = new ChunkKvRuntime(model, new KvStore([new RedisTier(fresh, tier.RedisPrefix!)]), KvCodec.Create(settings.Codec));
            var coldContext = coldRuntime.ForPrefixTokens(context.PrefixTokens);
            using var first = await coldContext.FuseAsync(prompt, FusionMethod.Reuse, answerTokens: 1, cancellationToken);
            var warm = results.FirstOrDefault(r => r.Method == FusionMethod.Reuse).Median?.Ttft ?? double.NaN;
            cold = new ColdStart(first.Ttft.TotalSeconds, first.KvLoad.TotalSeconds, warm, first.Ttft.TotalSeconds / warm);
            progress.WriteLine($"cold start: reuse {cold.TtftSeconds * 1000:F1} ms ({cold.Ratio:F2}x warm)");
        }
        return new Report(settings.Shape.Name, settings.Store, KvCodec.Name(settings.Codec), prompt.ContextLength, floor, questionSeconds,
            copyGbps, kvBytes, results.Select(r => new Result(r.Method.Name, r.Median.Ttft, r.Speedup, r.ToFloor,
                r.Median.Fused.Recomputed.Length, Flops(r.Median), fullFlops / Flops(r.Median), new Dictionary<string, double>
                {
                    ["load"] = r.Median.Load,
                    ["assemble"] = r.Median.Fused.Timings.Assemble.TotalSeconds,
                    // Thread time decoding and turning the stored K/V into the slots, mostly beside the compute.
                    ["fill"] = r.Median.Fused.Timings.Fill.TotalSeconds,
                    ["fill_wait"] = r.Median.Fused.Timings.FillWait.TotalSeconds,
                    ["compute"] = r.Median.Fused.Timings.Compute.TotalSeconds,
                })
            {
                TtftRoundsSeconds = runs[r.Method].Select(run => run.Ttft).ToList(),
            }).ToList()) { Cold = cold, FloorRoundsSeconds = floors, Weights = model.Transformer.Weights.Layers[0].Gate.Type.ToString().ToLowerInvariant() };
    }

    private sealed record Run(double Ttft, double Load, FusionResult Fused);

    /// <summary>GB/s of copying <paramref name="bytes"/> between two warm buffers (best of three).</summary>
    private static double CopySpeed(long bytes)
    {
        var floats = (int)Math.Min(bytes / sizeof(float), 1L << 28);
        var source = new float[floats];
        var target = new float[floats];
        source.AsSpan().Fill(1);
        target.AsSpan().Clear(); // touched once, so the timed copies pay no page faults
        var best = double.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            source.AsSpan().CopyTo(target);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return floats * (double)sizeof(float) / best / 1e9;
    }

    private sealed class OpenedTier(IKvTier tier, IDisposable? owner, string? redisPrefix = null) : IDisposable
    {
        public IKvTier Tier => tier;

        /// <summary>The Redis tier's key prefix (a cold start reads the same keys on a new connection).</summary>
        public string? RedisPrefix => redisPrefix;
        public void Dispose() => owner?.Dispose();
    }

    private static async Task<OpenedTier> OpenTierAsync(Settings settings)
    {
        switch (settings.Store)
        {
            case "memory":
                return new OpenedTier(new MemoryTier(8L << 30), null);
            case "disk":
                var folder = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-ttft-{Guid.NewGuid():N}");
                return new OpenedTier(new DiskTier(folder), new FolderRemoval(folder));
            case "redis":
                var configuration = settings.Redis ?? throw new UsageException("--store redis needs --redis HOST:PORT or CHUNKKV_REDIS");
                ConnectionMultiplexer redis = await RedisConnections.ConnectAsync(configuration);
                if (!redis.IsConnected)
                {
                    redis.Dispose();
                    throw new CommandFailedException($"redis at '{configuration}' is unreachable");
                }
                var prefix = $"chunkkv:bench-ttft:{Guid.NewGuid():N}:";
                return new OpenedTier(new RedisTier(redis, prefix, TimeSpan.FromMinutes(30)), redis, prefix);
            default:
                throw new UsageException($"--store must be memory, disk or redis, not '{settings.Store}'");
        }
    }

    private sealed class FolderRemoval(string folder) : IDisposable
    {
        public void Dispose()
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
