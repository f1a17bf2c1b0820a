using System.Diagnostics;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// Prefill and decode speed at a real model shape with random weights, per weight type: prefill
/// against the GEMM-bound limit measured in the same run (all useful FLOPs at the speed one large
/// sgemm of the model's own MLP shape reaches here), decode against the bandwidth-bound limit (the
/// weight bytes a token reads over the memory read bandwidth measured in the same run).
/// </summary>
public static class PrefillBenchmark
{
    /// <param name="LlamaCpp">Run llama.cpp beside each weight type (its counterpart: F32, F16, Q8_0) on the same weights, in the same run.</param>
    public sealed record Settings(ModelShape Shape, int[] Lengths, int DecodeTokens, string ModelCache, IReadOnlyList<WeightChoice>? Weights = null,
        bool LlamaCpp = false);

    /// <summary>Decode runs per weight type (and per llama.cpp type), the fastest reported.</summary>
    public const int DecodeRuns = 3;

    public static PrefillReport Run(Settings settings, TextWriter progress)
    {
        var directory = BenchModels.Ensure(settings.Shape, settings.ModelCache, progress);
        var bandwidth = MemoryBandwidth.ReadGbps();
        progress.WriteLine($"memory read bandwidth: {bandwidth:F1} GB/s");
        var figures = new List<WeightFigures>();
        string gemm = "";
        var choices = settings.Weights ?? [WeightChoice.Auto];
        foreach (var choice in choices)
        {
            var (measured, gemmName) = RunWeights(settings, directory, choice, bandwidth, figures.FirstOrDefault(), progress);
            figures.Add(measured);
            gemm = gemmName;
        }
        if (choices.Count > 1)
        {
            figures = WithRounds(figures, choices, settings, directory, progress);
        }
        return new PrefillReport(settings.Shape.Name, gemm, Simd.Describe(Simd.Width), Workers.Count, bandwidth, figures);
    }

    /// <summary>
    /// <see cref="DecodeRuns"/> rounds through every type, each model loaded again: one prefill of the first length (after an
    /// untimed one that touches its buffers) and one decode run. A type's decode figure is then the best of all its runs
    /// (its own, those between llama.cpp's, and these), and each type's round-by-round ratios to the first type's give
    /// the medians beside the best-against-best ones. This VM's memory speed drifts by 10–30 % over the minutes between
    /// one type's runs and the next's (one run read f32 at 1.12 of the bandwidth measured at its start and bf16, two
    /// minutes on, at 0.86), and the types' ratios should compare like with like.
    /// </summary>
    private static List<WeightFigures> WithRounds(List<WeightFigures> figures, IReadOnlyList<WeightChoice> choices, Settings settings,
        string directory, TextWriter progress)
    {
        var decodeRounds = figures.Select(_ => new List<double>()).ToArray();
        var prefillRounds = figures.Select(_ => new List<double>()).ToArray();
        var random = new Random(7);
        var ids = Enumerable.Range(0, figures[0].DecodeContextTokens).Select(_ => random.Next(settings.Shape.VocabSize)).ToArray();
        var length = figures[0].Results[0].Tokens;
        for (var round = 1; round <= DecodeRuns; round++)
        {
            for (var i = 0; i < choices.Count; i++)
            {
                using var model = LanguageModel.Load(directory, weights: choices[i]);
                var transformer = model.Transformer;
                var sequence = transformer.NewSequence(length);
                Prefill(transformer, random, length, sequence);
                sequence.Truncate(0);
                prefillRounds[i].Add(Prefill(transformer, random, length, sequence));
                decodeRounds[i].Add(Generator.Generate(transformer, ids, settings.DecodeTokens, SamplingOptions.Greedy).DecodeTokensPerSecond);
                progress.WriteLine($"{choices[i]}: round {round}: {length} tokens {prefillRounds[i][^1]:F3} s, decode {decodeRounds[i][^1]:F1} tokens/s");
            }
        }
        var best = figures.Select((f, i) => Math.Max(f.DecodeTokensPerSecond, decodeRounds[i].Max())).ToArray();
        return figures.Select((f, i) => WithDecode(f, best[i], best[0]) with
        {
            DecodeRounds = decodeRounds[i],
            DecodeSpeedupInRounds = Evaluation.Statistics.Median(decodeRounds[i].Zip(decodeRounds[0], (ours, first) => ours / first)),
            PrefillRounds = prefillRounds[i],
            PrefillTimeRatioInRounds = Evaluation.Statistics.Median(prefillRounds[i].Zip(prefillRounds[0], (ours, first) => ours / first)),
        }).ToList();
    }

    private static (WeightFigures Figures, string Gemm) RunWeights(Settings settings, string directory, WeightChoice choice, double bandwidth,
        WeightFigures? baseline, TextWriter progress)
    {
        ResetPeakResident(); // writing the random weights, or the last type's model, is not this type's memory
        using var model = LanguageModel.Load(directory, weights: choice);
        var transformer = model.Transformer;
        var config = transformer.Config;
        var probeRows = Math.Min(1024, settings.Lengths.Max());

        var random = new Random(5);
        var results = new List<PrefillFigures>();
        // Warm-up: first-touch of weights and workspace, JIT.
        var warmUp = Math.Min(256, settings.Lengths.Min());
        Prefill(transformer, random, warmUp, transformer.NewSequence(warmUp));
        foreach (var length in settings.Lengths)
        {
            // The limit is measured again next to each length's runs: this VM's speed drifts by
            // several percent over a minute, and a ratio should compare like with like.
            var gemmGflops = GemmProbe.LinearGflops(transformer.Gemm, probeRows, config.HiddenSize, config.IntermediateSize, seconds: 1);
            var repeats = length < 2048 ? 3 : 2;
            var best = double.MaxValue;
            // One working cache per length, emptied between runs, as a server keeps its buffers: a
            // fresh one would time this VM's page faults (about 0.1 s per 512 tokens) with the compute.
            var sequence = transformer.NewSequence(length);
            for (var i = 0; i < repeats; i++)
            {
                sequence.Truncate(0);
                best = Math.Min(best, Prefill(transformer, random, length, sequence));
            }
            var flops = UsefulFlops(config, length);
            var limit = flops / (gemmGflops * 1e9);
            results.Add(new PrefillFigures(length, best, length / best, flops / best / 1e9, flops / 1e9, gemmGflops, limit, best / limit));
            progress.WriteLine($"{choice}: {length} tokens: {best:F3} s ({best / limit:F2}x the limit)");
        }

        var context = settings.Lengths.Min();
        var ids = Enumerable.Range(0, context).Select(_ => random.Next(config.VocabSize)).ToArray();
        // The best of DecodeRuns, as prefill is timed: this machine's noise only ever slows a run down.
        var decoded = Enumerable.Range(0, DecodeRuns).Select(_ => Generator.Generate(transformer, ids, settings.DecodeTokens, SamplingOptions.Greedy))
            .MaxBy(g => g.DecodeTokensPerSecond)!;
        var weights = transformer.Weights;
        var decodeBytes = weights.Layers.Sum(l => l.Query.Bytes + l.Key.Bytes + l.Value.Bytes + l.Output.Bytes + l.Gate.Bytes + l.Up.Bytes + l.Down.Bytes)
            + weights.LanguageModelHead.Bytes;
        var limitTokens = bandwidth * 1e9 / decodeBytes;
        progress.WriteLine($"{choice}: decode {decoded.DecodeTokensPerSecond:F1} tokens/s ({decoded.DecodeTokensPerSecond / limitTokens:F2} of the bandwidth limit)");
        var prefillSeconds = results[0].Seconds;
        // The prompt llama.cpp's logits are checked on, with this weight type's logits as the reference.
        var checkIds = CheckIds(config.VocabSize);
        var checkLogits = transformer.Prefill(checkIds, transformer.NewSequence(checkIds.Length));
        var figures = new WeightFigures(choice.ToString(), results, prefillSeconds, decoded.DecodeTokensPerSecond, context, weights.MatrixBytes, decodeBytes,
            limitTokens, decoded.DecodeTokensPerSecond / limitTokens,
            baseline is null ? 1 : decoded.DecodeTokensPerSecond / baseline.DecodeTokensPerSecond,
            baseline is null ? 1 : prefillSeconds / baseline.PrefillSeconds, PeakResidentBytes())
        {
            CheckLogits = checkLogits,
            WeightMemory = weights.Memory == WeightMemory.HugePages ? "huge-pages" : "mapped",
        };
        if (settings.LlamaCpp)
        {
            // ChunkKv decodes again between llama.cpp's runs, so that their ratio compares the two in the same minute.
            figures = WithLlamaCpp(figures, settings, directory, progress,
                () => Generator.Generate(transformer, ids, settings.DecodeTokens, SamplingOptions.Greedy).DecodeTokensPerSecond);
            // Those runs are this type's too: its figure is the best of every run it had.
            var best = Math.Max(figures.DecodeTokensPerSecond, figures.LlamaCpp!.ChunkKvDecodeTokensPerSecond);
            figures = WithDecode(figures, best, baseline?.DecodeTokensPerSecond ?? best);
        }
        return (figures, transformer.Gemm.Name);
    }

    /// <summary>The figures with <paramref name="decode"/> tokens/s, and its ratios to the bandwidth limit and to the first type's <paramref name="baselineDecode"/>.</summary>
    private static WeightFigures WithDecode(WeightFigures figures, double decode, double baselineDecode) => figures with
    {
        DecodeTokensPerSecond = decode,
        RatioToBandwidthLimit = decode / figures.DecodeLimitTokensPerSecond,
        DecodeSpeedup = decode / baselineDecode,
    };

    private static int[] CheckIds(int vocabulary)
    {
        var random = new Random(11);
        return Enumerable.Range(0, 64).Select(_ => random.Next(vocabulary - 1)).ToArray();
    }

    /// <summary>llama.cpp's counterpart of the weight type, on the same weights, its logits checked against these first.</summary>
    /// <param name="decodeOurs">One more ChunkKv decode run (tokens/s), timed between llama.cpp's.</param>
    private static WeightFigures WithLlamaCpp(WeightFigures ours, Settings settings, string directory, TextWriter progress, Func<double> decodeOurs)
    {
        var type = LlamaCpp.LlamaCppBaseline.Counterpart(ours.Weights);
        var gguf = LlamaCpp.LlamaCppBaseline.Ensure(directory, type, progress);
        var figures = LlamaCpp.LlamaCppBaseline.Run(gguf, type, settings.Lengths, settings.DecodeTokens, settings.Shape.VocabSize,
            CheckIds(settings.Shape.VocabSize), ours.CheckLogits!, decodeOurs, progress);
        return ours with
        {
            LlamaCpp = new LlamaCppView(figures.Weights, figures.FileBytes, figures.LogitsRelativeError,
                figures.Prefill.Select(p => new LlamaCppPrefill(p.Tokens, p.Seconds, p.Seconds / ours.Results.First(r => r.Tokens == p.Tokens).Seconds)).ToList(),
                figures.DecodeTokensPerSecond, figures.OursDecodeTokensPerSecond, figures.OursDecodeTokensPerSecond / figures.DecodeTokensPerSecond),
        };
    }

    private static double Prefill(Transformer transformer, Random random, int length, KvSequence sequence)
    {
        var ids = Enumerable.Range(0, length).Select(_ => random.Next(transformer.Config.VocabSize)).ToArray();
        var clock = Stopwatch.StartNew();
        transformer.Prefill(ids, sequence);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// FLOPs a prefill cannot avoid: 2 per multiply-add of every projection and causal attention in every
    /// layer but the last; in the last, every row's K and V and the last row alone through the rest (only
    /// its logits are read, as the engine runs it); one LM head row.
    /// </summary>
    public static double UsefulFlops(ModelConfig c, int tokens)
    {
        double n = tokens;
        var kvPerToken = 2.0 * c.HiddenSize * 2.0 * c.KvHeads * c.HeadDim;                    // k, v
        var restPerToken = 2.0 * (c.HiddenSize * (double)c.Heads * c.HeadDim                  // q
                                  + (double)c.Heads * c.HeadDim * c.HiddenSize                // o
                                  + 3.0 * c.HiddenSize * c.IntermediateSize);                 // gate, up, down
        var attentionPerKey = 2.0 * 2.0 * c.Heads * c.HeadDim;                                // QKᵀ and PV
        var everyRowLayer = n * (kvPerToken + restPerToken) + attentionPerKey * (n * (n + 1) / 2);
        var lastLayer = n * kvPerToken + restPerToken + attentionPerKey * n;
        return (c.Layers - 1) * everyRowLayer + lastLayer + 2.0 * c.HiddenSize * c.VocabSize;
    }

    /// <summary>Starts the peak resident set (VmHWM) again from the current one, where Linux allows it.</summary>
    private static void ResetPeakResident()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true); // hands freed memory back first
        const string clearRefs = "/proc/self/clear_refs";
        if (File.Exists(clearRefs))
        {
            File.WriteAllText(clearRefs, "5");
        }
    }

    /// <summary>The process's peak resident set (VmHWM) where Linux reports it, else the peak working set.</summary>
    private static long PeakResidentBytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
        {
            var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kib))
            {
                return kib * 1024;
            }
        }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
