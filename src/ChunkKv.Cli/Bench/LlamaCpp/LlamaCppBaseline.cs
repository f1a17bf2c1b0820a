using System.Diagnostics;
using ChunkKv.Inference.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

namespace ChunkKv.Cli.Bench.LlamaCpp;

/// <summary>One llama.cpp weight type's figures, beside ChunkKv's.</summary>
/// <param name="LogitsRelativeError">Its last-position logits against ChunkKv's on the same prompt (relative L2), checked before timing.</param>
/// <param name="OursDecodeTokensPerSecond">ChunkKv's best decode of the runs timed between llama.cpp's.</param>
public sealed record LlamaCppFigures(string Weights, IReadOnlyList<(int Tokens, double Seconds)> Prefill, double DecodeTokensPerSecond,
    double OursDecodeTokensPerSecond, long FileBytes, double LogitsRelativeError);

/// <summary>
/// llama.cpp (through LLamaSharp and its CPU backend, the build a .NET user gets) on the same random
/// weights, written as GGUF: F32 and F16 from the safetensors, Q8_0 by llama.cpp's own quantizer.
/// One <c>llama_decode</c> per prompt (the whole prompt one batch, 512-token micro-batches), the
/// best of as many runs as ChunkKv gets; decode is greedy tokens after the first length's prompt, the
/// best of <see cref="PrefillBenchmark.DecodeRuns"/> runs, each followed by one of ChunkKv's: this VM's
/// memory speed drifts by 10–30 % over minutes, and both engines' decoding moves with it.
/// </summary>
public static class LlamaCppBaseline
{
    /// <summary>The llama.cpp counterpart of each ChunkKv weight type.</summary>
    public static string Counterpart(string weights) => weights switch
    {
        "f32" => "F32",
        "q8" => "Q8_0",
        _ => "F16", // bf16 and f16: this llama.cpp build has no BF16 kernels (its BF16 is slower than F16)
    };

    private static bool _quiet;

    /// <summary>The model's GGUF of that type, written (or quantized) once next to the weights.</summary>
    public static string Ensure(string modelDirectory, string type, TextWriter progress)
    {
        Quiet();
        var path = Path.Combine(modelDirectory, "gguf", $"model-{type.ToLowerInvariant()}.gguf");
        if (File.Exists(path))
        {
            return path;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        progress.WriteLine($"writing {path} for llama.cpp ...");
        if (type == "Q8_0")
        {
            var source = Ensure(modelDirectory, "F32", progress);
            if (!LLamaQuantizer.Quantize(source, path + ".tmp", LLamaFtype.MOSTLY_Q8_0, Workers.Count, allowRequantize: true, quantizeOutputTensor: true))
            {
                throw new InvalidOperationException($"llama.cpp could not quantize {source} to Q8_0");
            }
            File.Move(path + ".tmp", path, overwrite: true);
            return path;
        }
        GgufModel.Write(modelDirectory, type == "F32" ? GgmlType.F32 : GgmlType.F16, path);
        return path;
    }

    /// <param name="reference">ChunkKv's last-position logits for <paramref name="checkIds"/> (with the weights this type stands beside).</param>
    /// <param name="decodeOurs">One ChunkKv decode run of the same length (tokens/s), timed after each of llama.cpp's.</param>
    public static LlamaCppFigures Run(string gguf, string type, int[] lengths, int decodeTokens, int vocabulary, int[] checkIds, float[] reference,
        Func<double> decodeOurs, TextWriter progress)
    {
        Quiet();
        var settings = new ModelParams(gguf)
        {
            ContextSize = (uint)(lengths.Max() + decodeTokens + 8),
            BatchSize = (uint)lengths.Max(),
            UBatchSize = 512,
            Threads = Workers.Count,
            BatchThreads = Workers.Count,
            GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(settings);
        var error = CheckLogits(weights, settings, checkIds, reference);
        progress.WriteLine($"llama.cpp {type}: logits against ChunkKv's, relative L2 {error:E2}");
        using var context = weights.CreateContext(settings);
        var random = new Random(5);
        var batch = new LLamaBatch();
        Prefill(context, batch, RandomIds(random, Math.Min(256, lengths.Min()), vocabulary)); // warm-up
        var prefill = new List<(int, double)>();
        foreach (var length in lengths)
        {
            var best = double.MaxValue;
            for (var i = 0; i < (length < 2048 ? 3 : 2); i++)
            {
                best = Math.Min(best, Prefill(context, batch, RandomIds(random, length, vocabulary)));
            }
            prefill.Add((length, best));
            progress.WriteLine($"llama.cpp {type}: {length} tokens: {best:F3} s");
        }
        var ids = RandomIds(random, lengths.Min(), vocabulary);
        double tokensPerSecond = 0, ours = 0;
        for (var run = 0; run < PrefillBenchmark.DecodeRuns; run++)
        {
            tokensPerSecond = Math.Max(tokensPerSecond, DecodeTokensPerSecond(context, batch, ids, decodeTokens));
            ours = Math.Max(ours, decodeOurs());
        }
        progress.WriteLine($"llama.cpp {type}: decode {tokensPerSecond:F1} tokens/s; ChunkKv {ours:F1} in the runs between");
        return new LlamaCppFigures(type, prefill, tokensPerSecond, ours, new FileInfo(gguf).Length, error);
    }

    /// <summary>Greedy tokens after the prompt, one <c>llama_decode</c> each, timed from the first to the last.</summary>
    private static double DecodeTokensPerSecond(LLamaContext context, LLamaBatch batch, int[] ids, int decodeTokens)
    {
        Prefill(context, batch, ids);
        var clock = Stopwatch.StartNew();
        var next = Greedy(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
        for (var i = 0; i < decodeTokens; i++)
        {
            batch.Clear();
            batch.Add(next, ids.Length + i, LLamaSeqId.Zero, true);
            Decode(context, batch);
            next = Greedy(context.NativeHandle.GetLogitsIth(0));
        }
        return decodeTokens / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Its last-position logits for the prompt against ChunkKv's, in a context with flash attention off
    /// and an F32 KV cache (its defaults round attention to F16, which is no fault of either engine).
    /// </summary>
    private static double CheckLogits(LLamaWeights weights, ModelParams settings, int[] ids, float[] reference)
    {
        var exact = new ModelParams(settings.ModelPath)
        {
            ContextSize = (uint)ids.Length + 8, BatchSize = (uint)ids.Length, UBatchSize = 512, Threads = settings.Threads,
            BatchThreads = settings.BatchThreads, GpuLayerCount = 0, FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,
        };
        using var context = weights.CreateContext(exact);
        var batch = new LLamaBatch();
        Prefill(context, batch, ids);
        var theirs = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
        if (theirs.Length != reference.Length)
        {
            throw new InvalidOperationException($"llama.cpp gives {theirs.Length} logits, ChunkKv {reference.Length}");
        }
        double difference = 0, norm = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            difference += Math.Pow(theirs[i] - reference[i], 2);
            norm += Math.Pow(reference[i], 2);
        }
        return Math.Sqrt(difference / norm);
    }

    private static double Prefill(LLamaContext context, LLamaBatch batch, int[] ids)
    {
        context.NativeHandle.MemoryClear(data: true);
        batch.Clear();
        for (var i = 0; i < ids.Length; i++)
        {
            batch.Add(ids[i], i, LLamaSeqId.Zero, i == ids.Length - 1);
        }
        var clock = Stopwatch.StartNew();
        Decode(context, batch);
        return clock.Elapsed.TotalSeconds;
    }

    private static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode failed: {result}");
        }
    }

    private static int Greedy(Span<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }
        return best;
    }

    private static int[] RandomIds(Random random, int length, int vocabulary) =>
        Enumerable.Range(0, length).Select(_ => random.Next(vocabulary - 1)).ToArray();

    /// <summary>llama.cpp logs every tensor it loads; the benchmark prints its own lines.</summary>
    private static void Quiet()
    {
        if (!_quiet)
        {
            NativeLibraryConfig.All.WithLogCallback((_, _) => { });
            _quiet = true;
        }
    }
}
