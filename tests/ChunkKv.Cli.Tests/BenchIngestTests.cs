using System.Text.Json.Nodes;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Cli.Tests;

public sealed class BenchIngestTests
{
    [Fact]
    public async Task Ingest_bench_reports_chunks_per_second_with_and_without_kv_precompute_on_the_same_chunks()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var tokenizer = Fixtures.TokenizerDirectory("qwen3");
        var (code, output, error) = await Cli.RunAsync("bench", "ingest", "--shape", "tiny-qwen3", "--tokenizer", tokenizer,
            "--documents", "2", "--chunk-tokens", "128", "--json", "--model-cache", cache);

        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        var results = report["results"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(2, results.Count);
        Assert.Equal(results[0]["chunks"]!.GetValue<int>(), results[1]["chunks"]!.GetValue<int>());
        Assert.Equal(results[0]["tokens"]!.GetValue<int>(), results[1]["tokens"]!.GetValue<int>());
        Assert.InRange(results[0]["tokens"]!.GetValue<int>() / results[0]["chunks"]!.GetValue<int>(), 64, 128);
        Assert.All(results, r => Assert.Equal(r["chunks"]!.GetValue<int>() / r["seconds"]!.GetValue<double>(),
            r["chunks_per_second"]!.GetValue<double>(), 6));
        Assert.StartsWith("tiny-qwen3-vocab", report["shape"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
