using System.Text;
using System.Text.RegularExpressions;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Evaluation.Metrics;

/// <summary>
/// The QA metrics as CacheBlend's example scripts compute them (<c>example/utils.py</c>): the answer is
/// the generation's first line (after leading newlines; one opening with "yes"/"no" counts as that
/// word), both sides normalized as SQuAD does (lower case, punctuation and articles dropped,
/// whitespace collapsed); F1 is over the tokenizer's token ids of the normalized texts, not words;
/// exact match compares the normalized texts. Each is the best over the gold answers.
/// </summary>
public static partial class AnswerMetrics
{
    /// <summary>Python's <c>string.punctuation</c>: ASCII only, as SQuAD's normalization removes it.</summary>
    private const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>CacheBlend's <c>parse_generation</c>.</summary>
    public static string FirstLine(string generation)
    {
        var line = generation.TrimStart('\n').Split('\n')[0];
        if (line.StartsWith("Yes", StringComparison.Ordinal) || line.StartsWith("yes", StringComparison.Ordinal))
        {
            return "Yes";
        }
        var first = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
        return first.StartsWith("No", StringComparison.Ordinal) || first.StartsWith("no", StringComparison.Ordinal) ? "No" : line;
    }

    /// <summary>SQuAD's <c>normalize_answer</c>: lower case, ASCII punctuation out, articles out, whitespace collapsed.</summary>
    public static string Normalize(string text)
    {
        var lower = text.ToLowerInvariant();
        var kept = new StringBuilder(lower.Length);
        foreach (var c in lower)
        {
            if (!Punctuation.Contains(c, StringComparison.Ordinal))
            {
                kept.Append(c);
            }
        }
        var noArticles = Articles().Replace(kept.ToString(), " ");
        return string.Join(' ', noArticles.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>F1 of the generation's first line against the best gold answer, over token ids.</summary>
    public static double F1(string generation, IEnumerable<string> answers, Tokenizer tokenizer)
    {
        var predicted = tokenizer.Encode(Normalize(FirstLine(generation)), addSpecialTokens: false);
        return answers.Max(answer => F1(predicted, tokenizer.Encode(Normalize(answer), addSpecialTokens: false)));
    }

    /// <summary>F1 of two bags of token ids (a common id counts as often as it occurs in both).</summary>
    public static double F1(IReadOnlyList<int> predicted, IReadOnlyList<int> gold)
    {
        if (predicted.Count == 0 || gold.Count == 0)
        {
            return predicted.Count == gold.Count ? 1 : 0; // both empty agree
        }
        var counts = gold.GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var common = 0;
        foreach (var id in predicted)
        {
            if (counts.TryGetValue(id, out var left) && left > 0)
            {
                counts[id] = left - 1;
                common++;
            }
        }
        if (common == 0)
        {
            return 0;
        }
        var precision = (double)common / predicted.Count;
        var recall = (double)common / gold.Count;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>Whether the generation's first line, normalized, equals some gold answer normalized.</summary>
    public static double ExactMatch(string generation, IEnumerable<string> answers)
    {
        var predicted = Normalize(FirstLine(generation));
        return answers.Any(a => Normalize(a) == predicted) ? 1 : 0;
    }

    [GeneratedRegex(@"\b(a|an|the)\b")]
    private static partial Regex Articles();
}
