using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Evaluation;

/// <summary>One held-apart question: <c>{"id", "kind": "single"|"cross", "prefix", "chunks": [...], "question", "answer"}</c>.</summary>
public sealed record EvalRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("prefix")] string? Prefix,
    [property: JsonPropertyName("chunks")] IReadOnlyList<string> Chunks,
    [property: JsonPropertyName("question")] string Question,
    [property: JsonPropertyName("answer")] string Answer)
{
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
