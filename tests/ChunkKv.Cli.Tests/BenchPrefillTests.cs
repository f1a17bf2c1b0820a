using System.Text.Json.Nodes;

namespace ChunkKv.Cli.Tests;

public sealed class BenchPrefillTests
{
    [Theory]
    [InlineData("qwen2.5-0.5b", 512)]
    [InlineData("llama3.1-8b", 4096)]
    [InlineData("tiny-qwen3", 1)]
    public void The_prefill_limit_counts_the_schedule_fusion_counts_plus_one_head_row(string shape, int tokens)
    {
        // Two derivations of one schedule: the bench's closed form, and the rows and keys fusion counts.
        var config = ChunkKv.Inference.Models.ModelConfig.Parse(ChunkKv.Inference.Models.ModelShape.Find(shape).ToConfigJson());
        var counted = ChunkKv.Fusion.FusionWork.OfPrefill(config.Layers, tokens).Flops(config) + 2.0 * config.HiddenSize * config.VocabSize;
        Assert.Equal(counted, ChunkKv.Cli.Bench.PrefillBenchmark.UsefulFlops(config, tokens), counted * 1e-12);
    }

    [Fact]
    public async Task Prefill_bench_prints_one_json_object_with_a_row_per_length_and_weight_type()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var (code, output, error) = await Cli.RunAsync("bench", "prefill", "--shape", "tiny-qwen3", "--tokens", "16,64", "--decode-tokens", "4",
            "--weights", "f32,bf16,q8", "--json", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        Assert.Equal("tiny-qwen3", report["shape"]!.GetValue<string>());
        Assert.True(report["memory_bandwidth_gbps"]!.GetValue<double>() > 0);
        var weights = report["weights"]!.AsArray().Select(w => w!).ToList();
        Assert.Equal(["f32", "bf16", "q8"], weights.Select(w => w["weights"]!.GetValue<string>()));
        foreach (var w in weights)
        {
            var results = w["results"]!.AsArray();
            Assert.Equal([16, 64], results.Select(r => r!["tokens"]!.GetValue<int>()));
            foreach (var r in results)
            {
                var seconds = r!["seconds"]!.GetValue<double>();
                Assert.True(seconds > 0);
                Assert.Equal(r["tokens"]!.GetValue<int>() / seconds, r["tokens_per_second"]!.GetValue<double>(), 6);
                Assert.Equal(seconds / r["limit_seconds"]!.GetValue<double>(), r["ratio_to_limit"]!.GetValue<double>(), 6);
            }
            var decode = w["decode_tokens_per_second"]!.GetValue<double>();
            Assert.True(decode > 0);
            Assert.Equal(decode / w["decode_limit_tokens_per_second"]!.GetValue<double>(), w["ratio_to_bandwidth_limit"]!.GetValue<double>(), 6);
            Assert.Equal(decode / weights[0]["decode_tokens_per_second"]!.GetValue<double>(), w["decode_speedup"]!.GetValue<double>(), 6);
            Assert.True(w["peak_memory_bytes"]!.GetValue<long>() > 0);
        }
        // With several types, each also decodes in rounds through them all (so their ratios share the same minutes),
        // and its figure is the best of every run it had.
        foreach (var w in weights)
        {
            var rounds = w["decode_rounds_tokens_per_second"]!.AsArray().Select(r => r!.GetValue<double>()).ToList();
            Assert.Equal(ChunkKv.Cli.Bench.PrefillBenchmark.DecodeRuns, rounds.Count);
            Assert.All(rounds, r => Assert.InRange(r, double.Epsilon, w["decode_tokens_per_second"]!.GetValue<double>()));
            // The round-by-round ratio to the first type: the median of the three pairs.
            var first = weights[0]["decode_rounds_tokens_per_second"]!.AsArray().Select(r => r!.GetValue<double>()).ToList();
            var pairs = rounds.Zip(first, (ours, baseline) => ours / baseline).Order().ToList();
            Assert.Equal(pairs[1], w["decode_speedup_in_rounds"]!.GetValue<double>(), 9);
            // Each round also times a prefill of the first length, and gives the same median of pairs.
            var prefills = w["prefill_rounds_seconds"]!.AsArray().Select(r => r!.GetValue<double>()).ToList();
            var firstPrefills = weights[0]["prefill_rounds_seconds"]!.AsArray().Select(r => r!.GetValue<double>()).ToList();
            Assert.Equal(ChunkKv.Cli.Bench.PrefillBenchmark.DecodeRuns, prefills.Count);
            Assert.All(prefills, p => Assert.True(p > 0));
            Assert.Equal(prefills.Zip(firstPrefills, (ours, baseline) => ours / baseline).Order().ToList()[1],
                w["prefill_time_ratio_in_rounds"]!.GetValue<double>(), 9);
        }
        // Every matrix of the tiny shape is a whole number of 32-weight groups: bf16 is half of f32, Q8 1.125 bytes a weight.
        var f32Bytes = weights[0]["weight_bytes"]!.GetValue<long>();
        Assert.Equal(f32Bytes / 2, weights[1]["weight_bytes"]!.GetValue<long>());
        Assert.Equal(f32Bytes / 4 * 9 / 8, weights[2]["weight_bytes"]!.GetValue<long>());
        // Figures from different machines can be told apart: the kernels' width and the GEMM in use.
        Assert.Equal(ChunkKv.Inference.Tensors.Simd.Describe(ChunkKv.Inference.Tensors.Simd.Width), report["vector_width"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(report["gemm"]!.GetValue<string>()));
    }

    [Fact]
    public async Task The_llama_cpp_baseline_runs_the_same_weights_its_logits_checked_against_ours_and_prints_the_ratios()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        try
        {
            var (code, output, error) = await Cli.RunAsync("bench", "prefill", "--shape", "tiny-qwen2", "--tokens", "32,64", "--decode-tokens", "4",
                "--weights", "f32,bf16,q8", "--baseline", "llama.cpp", "--json", "--model-cache", cache);
            Assert.True(code == CliApp.Ok, error);
            var weights = JsonNode.Parse(output)!["weights"]!.AsArray().Select(w => w!).ToList();
            // llama.cpp's logits on the GGUF written here against ours, an independent implementation of the
            // same model: F32 to rounding (both sum in f32), F16 within what rounding the weights to F16 moves
            // them, Q8_0 within its quantization (ours quantizes the same way; its activations are 8-bit too).
            var bounds = new Dictionary<string, (string Type, double Bound)>
            {
                ["f32"] = ("F32", 1e-5), ["bf16"] = ("F16", 1e-2), ["q8"] = ("Q8_0", 5e-2),
            };
            foreach (var w in weights)
            {
                var llama = w["llama_cpp"]!;
                var (type, bound) = bounds[w["weights"]!.GetValue<string>()];
                Assert.Equal(type, llama["weights"]!.GetValue<string>());
                var relative = llama["logits_relative_error"]!.GetValue<double>();
                Assert.True(relative < bound, $"{type}: logits {relative:E2} from ours (bound {bound:E0})");
                Assert.True(llama["file_bytes"]!.GetValue<long>() > 0);
                var prefill = llama["prefill"]!.AsArray().Select(p => p!).ToList();
                Assert.Equal([32, 64], prefill.Select(p => p["tokens"]!.GetValue<int>()));
                foreach (var (p, ours) in prefill.Zip(w["results"]!.AsArray()))
                {
                    Assert.Equal(p["seconds"]!.GetValue<double>() / ours!["seconds"]!.GetValue<double>(), p["chunkkv_speedup"]!.GetValue<double>(), 6);
                }
                // The decode ratio compares ChunkKv's runs timed between llama.cpp's, not its earlier ones.
                var alternating = llama["chunkkv_alternating_decode_tokens_per_second"]!.GetValue<double>();
                Assert.InRange(alternating, double.Epsilon, w["decode_tokens_per_second"]!.GetValue<double>()); // those runs count towards the type's best
                Assert.Equal(alternating / llama["decode_tokens_per_second"]!.GetValue<double>(), llama["chunkkv_decode_speedup"]!.GetValue<double>(), 6);
            }
        }
        finally
        {
            if (Directory.Exists(cache))
            {
                Directory.Delete(cache, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("--baseline", "vllm", "f32", "tiny-qwen2", "names llama.cpp")]
    [InlineData("--baseline", "llama.cpp", "auto", "tiny-qwen2", "needs the weight types named")]
    [InlineData("--baseline", "llama.cpp", "f32", "tiny-llama3", "Qwen2-architecture")]
    public async Task A_baseline_it_cannot_run_is_a_usage_error(string option, string engine, string weights, string shape, string message)
    {
        var (code, _, error) = await Cli.RunAsync("bench", "prefill", "--shape", shape, "--tokens", "16", "--weights", weights, option, engine);
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_shape_or_weight_type_is_a_usage_error()
    {
        var (code, _, error) = await Cli.RunAsync("bench", "prefill", "--shape", "gpt-9");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("qwen2.5-0.5b", error, StringComparison.Ordinal);
        (code, _, error) = await Cli.RunAsync("bench", "prefill", "--shape", "tiny-qwen3", "--weights", "f32,int4");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("auto|f32|bf16|f16|q8", error, StringComparison.Ordinal);
    }
}
