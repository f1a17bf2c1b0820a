using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChunkKv.Evaluation.Datasets;

/// <summary>The formats <c>chunkkv eval --dataset</c> reads.</summary>
public enum DatasetFormat
{
    /// <summary>The fixture's JSONL: <c>{id, kind, prefix, chunks, question, answer}</c> a line.</summary>
    Fixture,
    /// <summary>CacheBlend's inputs (<c>musique_s.json</c>, <c>wikimqa_s.json</c>, <c>samsum.json</c>): a JSON list of <c>{ctxs: [{title, text}], question, answers}</c>.</summary>
    CacheBlend,
    /// <summary>LongBench's JSONL: <c>{input, context, answers, dataset, _id}</c> a line.</summary>
    LongBench,
}

/// <summary>
/// Reads an evaluation set of any <see cref="DatasetFormat"/> into <see cref="EvalRecord"/>s, each
/// passage a chunk, before any model work: a malformed file is a <see cref="FormatException"/> naming
/// the record and the field. QA sets are scored by F1 over token ids, summaries (SAMSum, LongBench's
/// report and meeting sets) by Rouge-L, as the papers do.
/// </summary>
public static partial class DatasetReader
{
    /// <summary>CacheBlend's instruction for its QA sets, which a record's collection prefix carries.</summary>
    public const string CacheBlendQaInstruction =
        "You will be asked a question after reading several passages. Please directly answer the question based on the given passages. "
        + "Do NOT repeat the question. The answer should be within 5 words.";

    /// <summary>CacheBlend's instruction for SAMSum (its passages are worked examples).</summary>
    public const string SummaryInstruction = "Summarize the dialogue into a few short sentences. The following are some examples.";

    private static readonly HashSet<string> LongBenchSummaries = ["gov_report", "qmsum", "multi_news", "vcsum", "samsum"];

    /// <exception cref="FormatException">The file is not of the format, or a record lacks a field (named with the record).</exception>
    public static IReadOnlyList<EvalRecord> Read(string path, DatasetFormat? format = null)
    {
        var text = File.ReadAllText(path);
        var name = Path.GetFileNameWithoutExtension(path);
        return (format ?? Detect(text)) switch
        {
            DatasetFormat.CacheBlend => ReadCacheBlend(text, name),
            DatasetFormat.LongBench => ReadLongBench(text, name),
            _ => EvalRecord.ReadJsonLines(path),
        };
    }

    /// <summary>A JSON list is CacheBlend's; JSON lines with <c>chunks</c> the fixture's, with <c>context</c> and <c>input</c> LongBench's.</summary>
    public static DatasetFormat Detect(string text)
    {
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('['))
        {
            return DatasetFormat.CacheBlend;
        }
        var first = trimmed.Split('\n', 2)[0];
        JsonNode? record;
        try
        {
            record = JsonNode.Parse(first);
        }
        catch (JsonException e)
        {
            throw new FormatException($"neither a JSON list nor JSON lines (first line: {e.Message})", e);
        }
        return record is JsonObject o && o.ContainsKey("context") && o.ContainsKey("input") ? DatasetFormat.LongBench : DatasetFormat.Fixture;
    }

    private static List<EvalRecord> ReadCacheBlend(string text, string name)
    {
        JsonArray list;
        try
        {
            list = JsonNode.Parse(text) as JsonArray ?? throw new FormatException($"{name}: CacheBlend's format is a JSON list of records");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{name}: not valid JSON: {e.Message}", e);
        }
        var summary = name.Contains("samsum", StringComparison.OrdinalIgnoreCase);
        var records = new List<EvalRecord>();
        for (var i = 0; i < list.Count; i++)
        {
            var where = $"{name}: record {i}";
            var record = list[i] as JsonObject ?? throw new FormatException($"{where}: not an object");
            var contexts = record["ctxs"] as JsonArray ?? throw new FormatException($"{where}: 'ctxs' is missing or not a list");
            if (contexts.Count == 0)
            {
                throw new FormatException($"{where}: 'ctxs' is empty");
            }
            var chunks = new List<string>();
            for (var c = 0; c < contexts.Count; c++)
            {
                var passage = String(contexts[c]?["text"], $"{where}: ctxs[{c}].text");
                var title = contexts[c]?["title"] is JsonValue t && t.TryGetValue(out string? s) ? s : "";
                // As CacheBlend's build_qa_prompt writes a passage: its title, a blank line, its text.
                chunks.Add(summary || title.Length == 0 ? passage : $"{title}\n\n{passage}");
            }
            var question = String(record["question"], $"{where}: question");
            var answers = Answers(record["answers"], $"{where}: answers");
            records.Add(new EvalRecord($"{name}-{i}", name, summary ? SummaryInstruction : CacheBlendQaInstruction, chunks,
                summary ? question : NormalizeQuestion(question), answers[0])
            {
                Answers = answers,
                Metric = summary ? AnswerMetric.RougeL : AnswerMetric.F1,
            });
        }
        return records;
    }

    private static List<EvalRecord> ReadLongBench(string text, string name)
    {
        var records = new List<EvalRecord>();
        var number = 0;
        foreach (var line in text.Split('\n'))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var where = $"{name}: line {number}";
            JsonObject record;
            try
            {
                record = JsonNode.Parse(line) as JsonObject ?? throw new FormatException($"{where}: not an object");
            }
            catch (JsonException e)
            {
                throw new FormatException($"{where}: not valid JSON: {e.Message}", e);
            }
            var context = String(record["context"], $"{where}: context");
            var question = String(record["input"], $"{where}: input");
            var answers = Answers(record["answers"], $"{where}: answers");
            var dataset = record["dataset"] is JsonValue d && d.TryGetValue(out string? set) ? set : name;
            var id = record["_id"] is JsonValue v && v.TryGetValue(out string? given) ? given : $"{name}-{number}";
            records.Add(new EvalRecord(id, dataset, null, Passages(context), question, answers[0])
            {
                Answers = answers,
                Metric = LongBenchSummaries.Contains(dataset) ? AnswerMetric.RougeL : AnswerMetric.F1,
            });
        }
        return records;
    }

    /// <summary>LongBench's multi-document contexts mark each passage ("Passage 3:"); others split at blank lines.</summary>
    public static List<string> Passages(string context)
    {
        var marked = PassageMarker().Split(context).Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
        if (PassageMarker().IsMatch(context) && marked.Count > 0)
        {
            return marked;
        }
        return context.Split("\n\n").Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
    }

    /// <summary>CacheBlend's <c>normalize_question</c>: a question mark at the end, the first letter lower case.</summary>
    public static string NormalizeQuestion(string question)
    {
        var q = question.EndsWith('?') ? question : question + "?";
        return char.ToLowerInvariant(q[0]) + q[1..];
    }

    private static string String(JsonNode? node, string field) =>
        node is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrWhiteSpace(s)
            ? s
            : throw new FormatException($"{field} is {(node is null ? "missing" : "empty or not a string")}");

    private static List<string> Answers(JsonNode? node, string field)
    {
        var answers = node switch
        {
            JsonArray list => list.Select(a => a is JsonValue v && v.TryGetValue(out string? s) ? s : null).ToList(),
            JsonValue one when one.TryGetValue(out string? s) => [s],
            _ => throw new FormatException($"{field} is missing (a list of strings)"),
        };
        return answers.Count > 0 && answers.All(a => a is not null)
            ? answers.Select(a => a!).ToList()
            : throw new FormatException($"{field} must be a non-empty list of strings");
    }

    [GeneratedRegex(@"(?m)^Passage \d+:[ \t]*$")]
    private static partial Regex PassageMarker();
}
