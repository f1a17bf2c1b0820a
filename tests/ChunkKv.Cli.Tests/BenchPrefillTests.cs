using System.Text.Json.Nodes;

namespace ChunkKv.Cli.Tests;

public sealed class BenchPrefillTests
{
    [Fact]
    public async Task Prefill_bench_prints_one_json_object_with_a_row_per_length()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var (code, output, error) = await Cli.RunAsync(
            "bench", "prefill", "--shape", "tiny-qwen3", "--tokens", "16,64", "--decode-tokens", "4", "--json", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        Assert.Equal("tiny-qwen3", report["shape"]!.GetValue<string>());
        var results = report["results"]!.AsArray();
        Assert.Equal([16, 64], results.Select(r => r!["tokens"]!.GetValue<int>()));
        foreach (var r in results)
        {
            var seconds = r!["seconds"]!.GetValue<double>();
            Assert.True(seconds > 0);
            Assert.Equal(r["tokens"]!.GetValue<int>() / seconds, r["tokens_per_second"]!.GetValue<double>(), 6);
            Assert.Equal(seconds / r["limit_seconds"]!.GetValue<double>(), r["ratio_to_limit"]!.GetValue<double>(), 6);
        }
        Assert.True(report["decode_tokens_per_second"]!.GetValue<double>() > 0);
        Assert.True(report["peak_memory_bytes"]!.GetValue<long>() > 0);
        // Figures from different machines can be told apart: the kernels' width and the GEMM in use.
        Assert.Equal(ChunkKv.Inference.Tensors.Simd.Describe(ChunkKv.Inference.Tensors.Simd.Width), report["vector_width"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(report["gemm"]!.GetValue<string>()));
    }

    [Fact]
    public async Task An_unknown_shape_is_a_usage_error()
    {
        var (code, _, error) = await Cli.RunAsync("bench", "prefill", "--shape", "gpt-9");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("qwen2.5-0.5b", error, StringComparison.Ordinal);
    }
}
