using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Cli.Bench;

public sealed record IngestFigures(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("chunks")] int Chunks,
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("seconds")] double Seconds)
{
    [JsonPropertyName("chunks_per_second")]
    public double ChunksPerSecond => Chunks / Seconds;

    [JsonPropertyName("tokens_per_second")]
    public double TokensPerSecond => Tokens / Seconds;

    public IngestFigures Add(IngestFigures run) => this with { Chunks = Chunks + run.Chunks, Tokens = Tokens + run.Tokens, Seconds = Seconds + run.Seconds };

    public IngestFigures Average(int runs) => this with { Chunks = Chunks / runs, Tokens = Tokens / runs, Seconds = Seconds / runs };
}

/// <summary>What <c>chunkkv bench ingest</c> prints, as a table or as one JSON object.</summary>
public sealed record IngestReport(
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("target_tokens")] int TargetTokens,
    [property: JsonPropertyName("documents")] int Documents,
    [property: JsonPropertyName("results")] IReadOnlyList<IngestFigures> Results)
{
    public string ToJson() => JsonSerializer.Serialize(this) + Environment.NewLine;

    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"ingest, {Documents} documents, {TargetTokens}-token chunks, hashing embedder, embedded index, {Shape} shape for KV precompute");
        text.AppendLine();
        text.AppendLine("mode                               chunks   tokens   seconds   chunks/s   tokens/s");
        foreach (var r in Results)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Mode,-33}  {r.Chunks,6}   {r.Tokens,6}   {r.Seconds,7:F3}   {r.ChunksPerSecond,8:F1}   {r.TokensPerSecond,8:F0}");
        }
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"KV precompute costs {Results[0].ChunksPerSecond / Results[^1].ChunksPerSecond:F0}x the chunks/s of indexing alone");
        return text.ToString();
    }
}
