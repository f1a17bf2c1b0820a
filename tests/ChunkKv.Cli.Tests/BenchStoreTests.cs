using System.Text.Json;
using ChunkKv.Testing;

namespace ChunkKv.Cli.Tests;

public sealed class BenchStoreTests
{
    [Fact]
    public async Task Bench_store_json_reports_every_tier_and_codec_with_int4_at_least_3_5_times_smaller_than_f16()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var modelCache = Directory.CreateTempSubdirectory("chunkkv-bench-models-").FullName;
        int code;
        try
        {
            code = await CliApp.RunAsync(
                ["bench", "store", "--json", "--tokens", "512", "--seconds", "0.01", "--redis", TestServices.Redis,
                    "--kv-model", "tiny-qwen3", "--model-cache", modelCache], output, error);
        }
        finally
        {
            Directory.Delete(modelCache, recursive: true);
        }

        Assert.Equal(CliApp.Ok, code);
        var report = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.True(report.GetProperty("memcpy_mb_per_s").GetDouble() > 0);
        var tiers = report.GetProperty("tiers").EnumerateArray().ToList();
        Assert.Equal(18, tiers.Count); // 3 tiers x 6 codecs
        Assert.Equal(["disk", "memory", "redis"], tiers.Select(t => t.GetProperty("tier").GetString()).Distinct().Order());
        Assert.All(tiers, t => Assert.True(t.GetProperty("get_mb_per_s").GetDouble() > 0));
        // Redis's own benchmark on the same server, with values of the f16 entry's size, is the Redis tier's baseline.
        var baseline = report.GetProperty("redis_benchmark");
        Assert.True(baseline.GetProperty("get_mb_per_s").GetDouble() > 0);
        // Paired rounds (redis-benchmark, then the tier right after it): the ratio is the median round's.
        var rounds = report.GetProperty("redis_rounds").EnumerateArray().ToList();
        Assert.Equal(3, rounds.Count);
        var ratios = rounds.Select(r => r.GetProperty("ratio").GetDouble()).Order().ToList();
        Assert.All(rounds, r => Assert.Equal(r.GetProperty("tier_get_mb_per_s").GetDouble() / r.GetProperty("redis_benchmark").GetProperty("get_mb_per_s").GetDouble(),
            r.GetProperty("ratio").GetDouble(), 1e-9));
        Assert.True(ratios[1] > 0);
        Assert.Equal(ratios[1], report.GetProperty("redis_get_ratio_to_redis_benchmark").GetDouble());
        var median = rounds.Single(r => r.GetProperty("ratio").GetDouble() == ratios[1] && r.GetProperty("redis_benchmark").GetProperty("get_mb_per_s").GetDouble() == baseline.GetProperty("get_mb_per_s").GetDouble());
        Assert.Equal(baseline.GetProperty("value_bytes").GetDouble(), median.GetProperty("redis_benchmark").GetProperty("value_bytes").GetDouble());
        var codecs = report.GetProperty("codecs").EnumerateArray().ToDictionary(c => c.GetProperty("codec").GetString()!);
        Assert.Equal(codecs["f16"].GetProperty("bytes_per_token").GetDouble() * 512, baseline.GetProperty("value_bytes").GetDouble(), 1e-6);
        Assert.Equal(0, codecs["f32"].GetProperty("max_abs_error").GetDouble());
        Assert.True(codecs["f16"].GetProperty("bytes_per_token").GetDouble() / codecs["int4"].GetProperty("bytes_per_token").GetDouble() >= 3.5);
        Assert.True(codecs["int2"].GetProperty("max_abs_error").GetDouble() > codecs["int4"].GetProperty("max_abs_error").GetDouble());

        // On the engine's own K/V, every step down in bits costs accuracy, and f32 costs none.
        double EngineError(string codec) => codecs[codec].GetProperty("engine").GetProperty("relative_rms_error").GetDouble();
        Assert.Equal(0, EngineError("f32"));
        Assert.True(EngineError("f16") < EngineError("bf16"));
        Assert.True(EngineError("bf16") < EngineError("int8"));
        Assert.True(EngineError("int8") < EngineError("int4"));
        Assert.True(EngineError("int4") < EngineError("int2"));
        Assert.True(EngineError("int2") < 1);
    }

    [Fact]
    public async Task An_unknown_benchmark_is_a_usage_error()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        Assert.Equal(CliApp.Usage, await CliApp.RunAsync(["bench", "nope"], output, error));
        Assert.Contains("Unrecognized command or argument 'nope'", error.ToString());
        Assert.Contains("see 'chunkkv bench --help'", error.ToString());
    }
}
