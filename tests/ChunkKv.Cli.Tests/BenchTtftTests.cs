using System.Text.Json.Nodes;

namespace ChunkKv.Cli.Tests;

public sealed class BenchTtftTests
{
    [Fact]
    public async Task Ttft_bench_prints_each_method_against_full_and_the_floor_with_the_rows_it_recomputed()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var (code, output, error) = await Cli.RunAsync(
            "bench", "ttft", "--shape", "tiny-qwen3", "--chunks", "3", "--chunk-tokens", "20", "--question-tokens", "4",
            "--prefix-tokens", "2", "--methods", "full,reuse,epic:4,cacheblend:0.5", "--repeats", "3", "--json", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        Assert.Equal("memory", report["store"]!.GetValue<string>());
        Assert.Equal("bf16", report["weights"]!.GetValue<string>()); // as the bench model stores them
        Assert.Equal(2 + 3 * 20, report["context_tokens"]!.GetValue<int>());
        var floor = report["floor_seconds"]!.GetValue<double>();
        Assert.True(floor > 0);
        var results = report["results"]!.AsArray().ToDictionary(r => r!["method"]!.GetValue<string>(), r => r!);
        Assert.Equal(["full", "reuse", "epic:4", "cacheblend:0.5"], results.Keys);
        // full against itself, round by round, is exactly 1, as is its arithmetic against its own.
        Assert.Equal(1.0, results["full"]["speedup"]!.GetValue<double>());
        Assert.Equal(1.0, results["full"]["flop_speedup"]!.GetValue<double>(), 12);
        // Less recomputed is less arithmetic.
        Assert.Equal(results.Keys.OrderBy(m => results[m]["flops"]!.GetValue<double>()), ["reuse", "epic:4", "cacheblend:0.5", "full"]);
        // The rows each method's definition names: every chunk row, none, 4 of each later chunk, half.
        Assert.Equal([60, 0, 8, 30], results.Values.Select(r => r["recomputed"]!.GetValue<int>()));
        foreach (var r in results.Values)
        {
            var ttft = r["ttft_seconds"]!.GetValue<double>();
            Assert.True(ttft > 0);
            Assert.True(r["speedup"]!.GetValue<double>() > 0);
            // The floor is timed in every round beside the methods; the ratio is the median round's.
            var rounds = r["ttft_rounds_seconds"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
            Assert.Equal(3, rounds.Count);
            Assert.Equal(rounds.Order().ElementAt(1), ttft);
            var floors = report["floor_rounds_seconds"]!.AsArray().Select(f => f!.GetValue<double>()).ToList();
            Assert.Equal(floors.Order().ElementAt(1), floor);
            Assert.Equal(rounds.Zip(floors, (t, f) => t / f).Order().ElementAt(1), r["ratio_to_floor"]!.GetValue<double>(), 12);
            var fullRounds = results["full"]["ttft_rounds_seconds"]!.AsArray().Select(t => t!.GetValue<double>());
            Assert.Equal(fullRounds.Zip(rounds, (f, t) => f / t).Order().ElementAt(1), r["speedup"]!.GetValue<double>(), 12);
            Assert.True(r["breakdown"]!["compute"]!.GetValue<double>() > 0);
        }
    }
    [Fact]
    public async Task Without_full_among_the_methods_there_is_no_speed_up_but_still_the_floor_and_the_flop_ceiling()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var (code, output, error) = await Cli.RunAsync(
            "bench", "ttft", "--shape", "tiny-qwen3", "--chunks", "2", "--chunk-tokens", "12", "--question-tokens", "4",
            "--methods", "reuse", "--repeats", "1", "--weights", "q8", "--json", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        Assert.Equal("q8", JsonNode.Parse(output)!["weights"]!.GetValue<string>());
        var reuse = JsonNode.Parse(output)!["results"]!.AsArray().Single()!;
        Assert.Null(reuse["speedup"]);
        Assert.True(reuse["flop_speedup"]!.GetValue<double>() > 1);
        Assert.True(reuse["ratio_to_floor"]!.GetValue<double>() > 0);

        (code, output, error) = await Cli.RunAsync(
            "bench", "ttft", "--shape", "tiny-qwen3", "--chunks", "2", "--chunk-tokens", "12", "--question-tokens", "4",
            "--methods", "reuse", "--repeats", "1", "--weights", "f32", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        Assert.Matches(@"reuse\s+[0-9.]+\s+-x", output);
        Assert.Contains("weights f32,", output);
    }

    [Fact]
    public async Task Cold_times_the_first_query_on_a_fresh_redis_connection_against_the_warm_ones()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"chunkkv-bench-{Guid.NewGuid():N}");
        var (code, output, error) = await Cli.RunAsync(
            "bench", "ttft", "--shape", "tiny-qwen3", "--chunks", "2", "--chunk-tokens", "12", "--question-tokens", "4",
            "--methods", "reuse", "--repeats", "2", "--store", "redis", "--cold", "--json", "--model-cache", cache);
        Assert.True(code == CliApp.Ok, error);
        var report = JsonNode.Parse(output)!;
        var cold = report["cold"]!;
        var warm = report["results"]!.AsArray().Single()!["ttft_seconds"]!.GetValue<double>();
        Assert.Equal(warm, cold["warm_ttft_seconds"]!.GetValue<double>());
        Assert.True(cold["ttft_seconds"]!.GetValue<double>() > 0);
        Assert.True(cold["load_seconds"]!.GetValue<double>() > 0);
        Assert.Equal(cold["ttft_seconds"]!.GetValue<double>() / warm, cold["ratio"]!.GetValue<double>(), 6);

        (code, _, error) = await Cli.RunAsync("bench", "ttft", "--shape", "tiny-qwen3", "--cold", "--model-cache", cache);
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("--store redis", error);
    }
}
