using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Cli.Bench;

public sealed record PrefillFigures(
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("tokens_per_second")] double TokensPerSecond,
    [property: JsonPropertyName("gflops")] double Gflops,
    [property: JsonPropertyName("useful_gflop")] double UsefulGflop,
    [property: JsonPropertyName("gemm_gflops")] double GemmGflops,
    [property: JsonPropertyName("limit_seconds")] double LimitSeconds,
    [property: JsonPropertyName("ratio_to_limit")] double RatioToLimit);

/// <summary>What <c>chunkkv bench prefill</c> prints, as a table or as one JSON object.</summary>
public sealed record PrefillReport(
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("gemm")] string Gemm,
    [property: JsonPropertyName("vector_width")] string VectorWidth,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("gemm_gflops")] double GemmGflops,
    [property: JsonPropertyName("results")] IReadOnlyList<PrefillFigures> Results,
    [property: JsonPropertyName("decode_tokens_per_second")] double DecodeTokensPerSecond,
    [property: JsonPropertyName("decode_context_tokens")] int DecodeContextTokens,
    [property: JsonPropertyName("peak_memory_bytes")] long PeakMemoryBytes,
    [property: JsonPropertyName("weights_bytes")] long WeightsBytes)
{
    public string ToJson() => JsonSerializer.Serialize(this) + Environment.NewLine;

    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"prefill, {Shape} shape, fp32, {Threads} threads, {Gemm}, kernels {VectorWidth}");
        text.AppendLine("seconds: the best of 3 runs (2 from 2048 tokens on), each into the same emptied working cache");
        text.AppendLine("limit: every useful FLOP at the best speed of an sgemm of the model's MLP shape, measured just before each length");
        text.AppendLine();
        text.AppendLine("tokens   seconds   tokens/s   GFLOP/s   sgemm GFLOP/s   limit s   ratio to limit");
        foreach (var r in Results)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Tokens,6}   {r.Seconds,7:F3}   {r.TokensPerSecond,8:F0}   {r.Gflops,7:F0}   {r.GemmGflops,13:F0}   {r.LimitSeconds,7:F3}   {r.RatioToLimit,14:F3}");
        }
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"decode: {DecodeTokensPerSecond:F1} tokens/s after {DecodeContextTokens} tokens; peak memory {PeakMemoryBytes / 1048576.0:F0} MiB (weights {WeightsBytes / 1048576.0:F0} MiB)");
        return text.ToString();
    }
}
