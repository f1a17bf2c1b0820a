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
            "--documents", "2", "--chunk-tokens", "128", "--embedder", "hashing", "--json", "--model-cache", cache);

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

    [Fact]
    public async Task Ingest_bench_on_real_passages_reports_each_embedder_with_its_query_latency()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var passages = Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "hotpotqa", "dev-300.jsonl.gz");
        var (code, output, error) = await Cli.RunAsync("bench", "ingest", "--shape", "tiny-qwen3", "--tokenizer", Fixtures.TokenizerDirectory("qwen3"),
            "--passages", passages, "--documents", "40", "--embedder", "hashing,minilm", "--json", "--model-cache", cache);

        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        var results = report["results"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(["index only (hashing-v1:384)", "index only (minilm-l6-v2:384)", "index + KV precompute (f16, hashing-v1:384)"],
            results.Select(r => r["mode"]!.GetValue<string>()));
        Assert.All(results, r => Assert.Equal(40, r["documents"]!.GetValue<int>()));
        Assert.All(results, r => Assert.Equal(r["documents"]!.GetValue<int>() / r["seconds"]!.GetValue<double>(),
            r["documents_per_second"]!.GetValue<double>(), 6));
        Assert.All(results.Take(2), r => Assert.True(r["query_embed_ms"]!.GetValue<double>() > 0));
        Assert.Equal("dev-300.jsonl.gz", report["corpus"]!.GetValue<string>());

        var (badCode, _, badError) = await Cli.RunAsync("bench", "ingest", "--embedder", "bert");
        Assert.Equal(CliApp.Usage, badCode);
        Assert.Contains("--embedder takes hashing and minilm", badError, StringComparison.Ordinal);
    }
}
