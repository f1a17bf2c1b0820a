using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Evaluation;

/// <summary>How a record's answer is scored.</summary>
public enum AnswerMetric
{
    /// <summary>The fixture's rule: the greedy answer, trimmed, is the gold answer exactly.</summary>
    Exact,
    /// <summary>CacheBlend's QA F1 over token ids (<see cref="Metrics.AnswerMetrics.F1(string, IEnumerable{string}, Inference.Tokenization.Tokenizer)"/>).</summary>
    F1,
    /// <summary>Rouge-L with stemming, for summaries (<see cref="Metrics.RougeL"/>).</summary>
    RougeL,
}

/// <summary>
/// One question with its passages: <c>{"id", "kind", "prefix", "chunks": [...], "question", "answer"}</c>
/// in the fixture's JSONL; the papers' datasets are read into the same shape (<see cref="Datasets.DatasetReader"/>),
/// with every gold answer and their metric.
/// </summary>
public sealed record EvalRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("prefix")] string? Prefix,
    [property: JsonPropertyName("chunks")] IReadOnlyList<string> Chunks,
    [property: JsonPropertyName("question")] string Question,
    [property: JsonPropertyName("answer")] string Answer)
{
    /// <summary>Every gold answer (the best one scores); the fixture's records have one.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Answers { get; init; } = [Answer];

    [JsonIgnore]
    public AnswerMetric Metric { get; init; } = AnswerMetric.Exact;

    /// <summary>Reads a JSONL file; a bad line is named with its number.</summary>
    public static IReadOnlyList<EvalRecord> ReadJsonLines(string path)
    {
        var records = new List<EvalRecord>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            EvalRecord? record;
            try
            {
                record = JsonSerializer.Deserialize<EvalRecord>(line);
            }
            catch (JsonException e)
            {
                throw new FormatException($"{path}:{number}: not an evaluation record: {e.Message}", e);
            }
            if (record is null || string.IsNullOrEmpty(record.Id) || record.Chunks is null || record.Chunks.Count == 0
                || string.IsNullOrEmpty(record.Question) || record.Answer is null || string.IsNullOrEmpty(record.Kind))
            {
                throw new FormatException($"{path}:{number}: a record needs id, kind, chunks (at least one), question and answer");
            }
            records.Add(record);
        }
        return records;
    }
}
