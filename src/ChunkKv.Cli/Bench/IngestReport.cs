using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Cli.Bench;

/// <param name="QueryEmbedMilliseconds">The median time to embed one question (indexing rows only).</param>
public sealed record IngestFigures(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("documents")] int Documents,
    [property: JsonPropertyName("chunks")] int Chunks,
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("query_embed_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? QueryEmbedMilliseconds = null)
{
    [JsonPropertyName("documents_per_second")]
    public double DocumentsPerSecond => Documents / Seconds;

    [JsonPropertyName("chunks_per_second")]
    public double ChunksPerSecond => Chunks / Seconds;

    [JsonPropertyName("tokens_per_second")]
    public double TokensPerSecond => Tokens / Seconds;

    public IngestFigures Add(IngestFigures run) => this with
    {
        Documents = Documents + run.Documents, Chunks = Chunks + run.Chunks, Tokens = Tokens + run.Tokens, Seconds = Seconds + run.Seconds,
    };

    public IngestFigures Average(int runs) => this with { Documents = Documents / runs, Chunks = Chunks / runs, Tokens = Tokens / runs, Seconds = Seconds / runs };
}

/// <summary>What <c>chunkkv bench ingest</c> prints, as a table or as one JSON object.</summary>
public sealed record IngestReport(
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("target_tokens")] int TargetTokens,
    [property: JsonPropertyName("documents")] int Documents,
    [property: JsonPropertyName("corpus")] string Corpus,
    [property: JsonPropertyName("results")] IReadOnlyList<IngestFigures> Results)
{
    public string ToJson() => JsonSerializer.Serialize(this) + Environment.NewLine;

    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"ingest, {Documents} documents of {Corpus}, {TargetTokens}-token chunks, embedded index, {Shape} shape for KV precompute");
        text.AppendLine();
        text.AppendLine("mode                                             docs   chunks   tokens   seconds     docs/s   chunks/s   tokens/s   query embed ms");
        foreach (var r in Results)
        {
            var query = r.QueryEmbedMilliseconds is { } ms ? ms.ToString("F2", CultureInfo.InvariantCulture) : "-";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Mode,-47}  {r.Documents,5}   {r.Chunks,6}   {r.Tokens,6}   {r.Seconds,7:F3}   {r.DocumentsPerSecond,8:F1}   {r.ChunksPerSecond,8:F1}   {r.TokensPerSecond,8:F0}   {query,14}");
        }
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"KV precompute costs {Results[0].ChunksPerSecond / Results[^1].ChunksPerSecond:F0}x the chunks/s of indexing alone");
        return text.ToString();
    }
}
