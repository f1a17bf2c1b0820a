using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Evaluation;

/// <summary>A paragraph of a multi-hop question's context.</summary>
public sealed record Paragraph([property: JsonPropertyName("title")] string Title, [property: JsonPropertyName("text")] string Text);

/// <summary>
/// A multi-hop question with the paragraphs it was asked over (HotpotQA's distractor setting: the
/// supporting ones and distractors), as <c>tools/datasets/make_hotpotqa_dev.py</c> writes them.
/// </summary>
public sealed record MultiHopQuestion(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("question")] string Question,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("supporting")] IReadOnlyList<string> Supporting,
    [property: JsonPropertyName("paragraphs")] IReadOnlyList<Paragraph> Paragraphs)
{
    /// <summary>A yes/no comparison: its answer is in no passage, so answer-in-passage does not apply.</summary>
    public bool IsYesNo => Answer.Equals("yes", StringComparison.OrdinalIgnoreCase) || Answer.Equals("no", StringComparison.OrdinalIgnoreCase);
}

public static class MultiHopSet
{
    /// <summary>Reads a JSONL file (gzip when it ends in .gz); a bad line is named with its number.</summary>
    /// <exception cref="FormatException">A line is not a record or lacks a field.</exception>
    public static IReadOnlyList<MultiHopQuestion> Read(string path)
    {
        using var file = File.OpenRead(path);
        using var stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        using var reader = new StreamReader(stream);
        var questions = new List<MultiHopQuestion>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            MultiHopQuestion? question;
            try
            {
                question = JsonSerializer.Deserialize<MultiHopQuestion>(line);
            }
            catch (JsonException e)
            {
                throw new FormatException($"{path}:{number}: not a question record: {e.Message}", e);
            }
            if (question is null || string.IsNullOrEmpty(question.Question) || string.IsNullOrEmpty(question.Answer)
                || question.Paragraphs is not { Count: > 0 } || question.Supporting is null)
            {
                throw new FormatException($"{path}:{number}: a record needs question, answer, supporting and paragraphs");
            }
            questions.Add(question);
        }
        return questions;
    }

    /// <summary>Every distinct paragraph of the set (by title, first text kept): the pooled corpus retrieval searches.</summary>
    public static IReadOnlyList<Paragraph> Corpus(IEnumerable<MultiHopQuestion> questions) =>
        questions.SelectMany(q => q.Paragraphs).DistinctBy(p => p.Title, StringComparer.Ordinal).ToList();
}
