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

/// <summary>One weight type's figures: prefill per length, decode against the bandwidth limit, memory.</summary>
/// <param name="DecodeBytesPerToken">Weight bytes a decoded token reads (every matrix but the embedding table, the LM head included).</param>
/// <param name="DecodeLimitTokensPerSecond">The memory bandwidth over those bytes: what decoding could reach if reading weights were all it did.</param>
/// <param name="DecodeSpeedup">Tokens/s over the first weight type's (the baseline of the run).</param>
/// <param name="PrefillTimeRatio">The first length's prefill seconds over the baseline's.</param>
public sealed record WeightFigures(
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("results")] IReadOnlyList<PrefillFigures> Results,
    [property: JsonPropertyName("prefill_seconds")] double PrefillSeconds,
    [property: JsonPropertyName("decode_tokens_per_second")] double DecodeTokensPerSecond,
    [property: JsonPropertyName("decode_context_tokens")] int DecodeContextTokens,
    [property: JsonPropertyName("weight_bytes")] long WeightBytes,
    [property: JsonPropertyName("decode_bytes_per_token")] long DecodeBytesPerToken,
    [property: JsonPropertyName("decode_limit_tokens_per_second")] double DecodeLimitTokensPerSecond,
    [property: JsonPropertyName("ratio_to_bandwidth_limit")] double RatioToBandwidthLimit,
    [property: JsonPropertyName("decode_speedup")] double DecodeSpeedup,
    [property: JsonPropertyName("prefill_time_ratio")] double PrefillTimeRatio,
    [property: JsonPropertyName("peak_memory_bytes")] long PeakMemoryBytes)
{
    /// <summary>llama.cpp's figures on the same weights in its counterpart type (with --baseline llama.cpp).</summary>
    [JsonPropertyName("llama_cpp")]
    public LlamaCppView? LlamaCpp { get; init; }

    /// <summary>With several types: this type's decode runs in rounds through them all (tokens/s), each model loaded again.</summary>
    [JsonPropertyName("decode_rounds_tokens_per_second")]
    public IReadOnlyList<double> DecodeRounds { get; init; } = [];

    /// <summary>
    /// With several types: the median over the rounds of this type's tokens/s over the first type's in the same round.
    /// Each pair ran within seconds of each other, so this ratio moves less with the memory's drift than
    /// <see cref="WeightFigures.DecodeSpeedup"/>, whose two bests may come from different minutes.
    /// </summary>
    [JsonPropertyName("decode_speedup_in_rounds")]
    public double? DecodeSpeedupInRounds { get; init; }

    /// <summary>With several types: this type's prefill seconds (first length) in the rounds through them all.</summary>
    [JsonPropertyName("prefill_rounds_seconds")]
    public IReadOnlyList<double> PrefillRounds { get; init; } = [];

    /// <summary>With several types: the median over the rounds of this type's prefill seconds over the first type's in the same round.</summary>
    [JsonPropertyName("prefill_time_ratio_in_rounds")]
    public double? PrefillTimeRatioInRounds { get; init; }

    /// <summary>Where the matrices lived: mapped (in place in the file) or huge-pages (copied at load).</summary>
    [JsonPropertyName("weight_memory")]
    public string WeightMemory { get; init; } = "";

    /// <summary>The last-position logits of the check prompt under these weights (what llama.cpp is checked against).</summary>
    [JsonIgnore]
    public float[]? CheckLogits { get; init; }
}

/// <param name="Speedup">llama.cpp's seconds over ChunkKv's at this length (above 1: ChunkKv is ahead).</param>
public sealed record LlamaCppPrefill(
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("chunkkv_speedup")] double Speedup);

/// <param name="LogitsRelativeError">Its last-position logits against ChunkKv's (relative L2), flash attention off and an F32 KV cache.</param>
/// <param name="ChunkKvDecodeTokensPerSecond">ChunkKv's best decode of the runs timed between llama.cpp's, what <paramref name="DecodeSpeedup"/> compares.</param>
/// <param name="DecodeSpeedup">ChunkKv's tokens/s over llama.cpp's, their runs alternating (above 1: ChunkKv is ahead).</param>
public sealed record LlamaCppView(
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("file_bytes")] long FileBytes,
    [property: JsonPropertyName("logits_relative_error")] double LogitsRelativeError,
    [property: JsonPropertyName("prefill")] IReadOnlyList<LlamaCppPrefill> Prefill,
    [property: JsonPropertyName("decode_tokens_per_second")] double DecodeTokensPerSecond,
    [property: JsonPropertyName("chunkkv_alternating_decode_tokens_per_second")] double ChunkKvDecodeTokensPerSecond,
    [property: JsonPropertyName("chunkkv_decode_speedup")] double DecodeSpeedup);

/// <summary>What <c>chunkkv bench prefill</c> prints, as a table or as one JSON object.</summary>
public sealed record PrefillReport(
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("gemm")] string Gemm,
    [property: JsonPropertyName("vector_width")] string VectorWidth,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("memory_bandwidth_gbps")] double MemoryBandwidthGbps,
    [property: JsonPropertyName("weights")] IReadOnlyList<WeightFigures> Weights)
{
    public string ToJson() => JsonSerializer.Serialize(this) + Environment.NewLine;

    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"prefill and decode, {Shape} shape, {Threads} threads, {Gemm}, kernels {VectorWidth}, memory read {MemoryBandwidthGbps:F1} GB/s");
        text.AppendLine("seconds: the best of 3 runs (2 from 2048 tokens on), each into the same emptied working cache");
        var runs = PrefillBenchmark.DecodeRuns;
        var between = Weights.Any(w => w.LlamaCpp is not null) ? string.Create(CultureInfo.InvariantCulture, $", {runs} between llama.cpp's") : "";
        var rounds = Weights.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $", {runs} in rounds through every type (each also timing a prefill)") : "";
        text.AppendLine(CultureInfo.InvariantCulture,
            $"decode: the best of every run after the same prompt: {runs} of its own{between}{rounds} (the memory's speed drifts over minutes)");
        text.AppendLine("limit: every useful FLOP at the best speed of an sgemm of the model's MLP shape, measured just before each length");
        foreach (var w in Weights)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"weights {w.Weights} ({w.WeightMemory}): {w.WeightBytes / 1048576.0:F0} MiB, peak memory {w.PeakMemoryBytes / 1048576.0:F0} MiB");
            text.AppendLine("tokens   seconds   tokens/s   GFLOP/s   sgemm GFLOP/s   limit s   ratio to limit");
            foreach (var r in w.Results)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"{r.Tokens,6}   {r.Seconds,7:F3}   {r.TokensPerSecond,8:F0}   {r.Gflops,7:F0}   {r.GemmGflops,13:F0}   {r.LimitSeconds,7:F3}   {r.RatioToLimit,14:F3}");
            }
            var decodeRounds = w.DecodeRounds.Count > 0
                ? "; in the rounds " + string.Join(" ", w.DecodeRounds.Select(r => r.ToString("F1", CultureInfo.InvariantCulture)))
                : "";
            if (w.PrefillRounds.Count > 0)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"prefill of {w.Results[0].Tokens} tokens in the rounds: {string.Join(" ", w.PrefillRounds.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))} s");
            }
            text.AppendLine(CultureInfo.InvariantCulture,
                $"decode: {w.DecodeTokensPerSecond:F1} tokens/s after {w.DecodeContextTokens} tokens; bandwidth limit {w.DecodeLimitTokensPerSecond:F1} "
                + $"({w.DecodeBytesPerToken / 1048576.0:F0} MiB a token), ratio {w.RatioToBandwidthLimit:F2}{decodeRounds}");
            if (w.LlamaCpp is { } llama)
            {
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"llama.cpp {llama.Weights} (logits against these {llama.LogitsRelativeError:E1}): ")
                    + string.Join(", ", llama.Prefill.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Tokens} tokens {p.Seconds:F3} s (ChunkKv {p.Speedup:F2}x)")))
                    + string.Create(CultureInfo.InvariantCulture, $"; decode {llama.DecodeTokensPerSecond:F1} tokens/s against ChunkKv's {llama.ChunkKvDecodeTokensPerSecond:F1} in alternating runs (ChunkKv {llama.DecodeSpeedup:F2}x)"));
            }
        }
        if (Weights.Count > 1)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"against {Weights[0].Weights}:   decode speed-up   median in rounds   prefill time   median in rounds");
            foreach (var w in Weights)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"{w.Weights,-16}   {w.DecodeSpeedup,15:F2}x   {w.DecodeSpeedupInRounds,15:F2}x   {w.PrefillTimeRatio,11:F2}x   {w.PrefillTimeRatioInRounds,15:F2}x");
            }
        }
        return text.ToString();
    }
}
