using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Cli.Bench;

public sealed record TierFigures(
    [property: JsonPropertyName("tier")] string Tier,
    [property: JsonPropertyName("codec")] string Codec,
    [property: JsonPropertyName("put_mb_per_s")] double PutMegabytesPerSecond,
    [property: JsonPropertyName("get_mb_per_s")] double GetMegabytesPerSecond,
    [property: JsonPropertyName("checked_get_mb_per_s")] double CheckedGetMegabytesPerSecond,
    [property: JsonPropertyName("get_ratio_to_memcpy")] double GetRatioToMemcpy);

/// <summary>A codec's reconstruction error; the relative RMS error is the RMS error over the RMS of the K/V.</summary>
public sealed record ReconstructionError(
    [property: JsonPropertyName("max_abs_error")] double MaxAbsError,
    [property: JsonPropertyName("rms_error")] double RmsError,
    [property: JsonPropertyName("relative_rms_error")] double RelativeRmsError);

/// <summary>
/// One codec: size, errors on synthetic K/V (the top-level error fields) and on the engine's K/V
/// (<c>engine</c>, absent when skipped), and encode/decode speed in encoded MB/s.
/// </summary>
public sealed record CodecFigures(
    [property: JsonPropertyName("codec")] string Codec,
    [property: JsonPropertyName("bytes_per_token")] double BytesPerToken,
    [property: JsonIgnore] ReconstructionError Synthetic,
    [property: JsonPropertyName("engine")] ReconstructionError? Engine,
    [property: JsonPropertyName("encode_mb_per_s")] double EncodeMegabytesPerSecond,
    [property: JsonPropertyName("decode_mb_per_s")] double DecodeMegabytesPerSecond,
    [property: JsonPropertyName("encode_ms_per_chunk")] double EncodeMillisecondsPerChunk,
    [property: JsonPropertyName("decode_ms_per_chunk")] double DecodeMillisecondsPerChunk)
{
    [JsonPropertyName("max_abs_error")] public double MaxAbsError => Synthetic.MaxAbsError;
    [JsonPropertyName("rms_error")] public double RmsError => Synthetic.RmsError;
    [JsonPropertyName("relative_rms_error")] public double RelativeRmsError => Synthetic.RelativeRmsError;
}

/// <summary>One round of the Redis tier's f16 GET timed right after redis-benchmark's.</summary>
public sealed record RedisRound(
    [property: JsonPropertyName("redis_benchmark")] RedisBaselineFigures Baseline,
    [property: JsonPropertyName("tier_get_mb_per_s")] double TierGetMegabytesPerSecond,
    [property: JsonPropertyName("ratio")] double Ratio);

/// <summary>What <c>chunkkv bench store</c> prints, as a table or as one JSON object.</summary>
public sealed record StoreReport(
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("memcpy_mb_per_s")] double MemcpyMegabytesPerSecond,
    [property: JsonPropertyName("tiers")] IReadOnlyList<TierFigures> Tiers,
    [property: JsonPropertyName("codecs")] IReadOnlyList<CodecFigures> Codecs,
    [property: JsonPropertyName("notes")] IReadOnlyList<string> Notes,
    [property: JsonPropertyName("redis_benchmark")] RedisBaselineFigures? RedisBenchmark)
{
    /// <summary>The rounds of the Redis tier's f16 GET paired with redis-benchmark's; <see cref="RedisBenchmark"/> is the median round's.</summary>
    [JsonPropertyName("redis_rounds")]
    public IReadOnlyList<RedisRound>? RedisRounds { get; init; }

    /// <summary>The Redis tier's f16 GET throughput over redis-benchmark's GET on the same server, the median of the paired rounds; null without both.</summary>
    [JsonPropertyName("redis_get_ratio_to_redis_benchmark")]
    public double? RedisGetRatio => RedisRounds is { Count: > 0 } rounds ? MedianRound(rounds).Ratio : null;

    /// <summary>The round whose ratio is the median (the reported baseline and ratio are both its).</summary>
    public static RedisRound MedianRound(IReadOnlyList<RedisRound> rounds) => rounds.OrderBy(r => r.Ratio).ElementAt(rounds.Count / 2);

    public string ToJson() => JsonSerializer.Serialize(this) + Environment.NewLine;

    private static string Errors(ReconstructionError e) =>
        string.Create(CultureInfo.InvariantCulture, $"{e.MaxAbsError,11:E2}  {e.RmsError,9:E2}  {e.RelativeRmsError,9:E2}");

    public string ToTable()
    {
        var text = new StringBuilder();
        var f16 = Codecs.First(c => c.Codec == "f16").BytesPerToken;
        text.AppendLine(CultureInfo.InvariantCulture, $"KV store, {Shape} shape, {Tokens}-token chunks; memcpy {MemcpyMegabytesPerSecond:F0} MB/s");
        text.AppendLine();
        text.AppendLine("                              synthetic K/V                       engine K/V");
        text.AppendLine("codec   bytes/token  vs f16   max abs err  rms err    rel rms    max abs err  rms err    rel rms    encode MB/s  decode MB/s  encode ms  decode ms");
        foreach (var c in Codecs)
        {
            var engine = c.Engine is { } e ? Errors(e) : $"{"(skipped)",-33}";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{c.Codec,-7} {c.BytesPerToken,11:F0}  {f16 / c.BytesPerToken,5:F2}x  {Errors(c.Synthetic)}  {engine}  {c.EncodeMegabytesPerSecond,11:F0}  {c.DecodeMegabytesPerSecond,11:F0}  {c.EncodeMillisecondsPerChunk,9:F2}  {c.DecodeMillisecondsPerChunk,9:F2}");
        }
        text.AppendLine();
        text.AppendLine("tier    codec   put MB/s   get MB/s   checked get MB/s   get / memcpy");
        foreach (var t in Tiers)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{t.Tier,-7} {t.Codec,-7} {t.PutMegabytesPerSecond,8:F0}   {t.GetMegabytesPerSecond,8:F0}   {t.CheckedGetMegabytesPerSecond,16:F0}   {t.GetRatioToMemcpy,12:F3}");
        }
        if (RedisBenchmark is { } b && RedisRounds is { } rounds)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"redis-benchmark on the same server, {b.ValueBytes} B values, {b.Clients} clients, each round right before the redis tier's f16 get:");
            foreach (var r in rounds)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"  SET {r.Baseline.SetMegabytesPerSecond:F0} MB/s, GET {r.Baseline.GetMegabytesPerSecond:F0} MB/s; the tier's get {r.TierGetMegabytesPerSecond:F0} MB/s, {r.Ratio:F2}x");
            }
            text.AppendLine(CultureInfo.InvariantCulture, $"the redis tier's f16 get is {RedisGetRatio:F2}x redis-benchmark's GET (the median round)");
        }
        foreach (var note in Notes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"note: {note}");
        }
        return text.ToString();
    }
}
