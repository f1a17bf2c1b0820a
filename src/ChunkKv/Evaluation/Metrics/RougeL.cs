using System.Text.RegularExpressions;

namespace ChunkKv.Evaluation.Metrics;

/// <summary>
/// Rouge-L as Google's <c>rouge_score</c> computes it with <c>use_stemmer=True</c> (CacheBlend's
/// summary metric): both texts lower-cased, every run of characters other than a–z and 0–9 a
/// separator, words longer than 3 letters Porter-stemmed; the F-measure of the longest common
/// subsequence of the two word lists.
/// </summary>
public static partial class RougeL
{
    public static IReadOnlyList<string> Tokens(string text) =>
        NonAlphanumeric().Replace(text.ToLowerInvariant(), " ")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t.Length > 3 ? PorterStemmer.Stem(t) : t)
            .ToList();

    /// <summary>The F-measure of <paramref name="prediction"/> against <paramref name="reference"/>; 0 when either has no words.</summary>
    public static double FMeasure(string prediction, string reference)
    {
        var predicted = Tokens(prediction);
        var target = Tokens(reference);
        if (predicted.Count == 0 || target.Count == 0)
        {
            return 0;
        }
        var lcs = LongestCommonSubsequence(target, predicted);
        var precision = (double)lcs / predicted.Count;
        var recall = (double)lcs / target.Count;
        return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    }

    /// <summary>The best F-measure over several references.</summary>
    public static double FMeasure(string prediction, IEnumerable<string> references) => references.Max(r => FMeasure(prediction, r));

    private static int LongestCommonSubsequence(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (var i = 1; i <= a.Count; i++)
        {
            for (var j = 1; j <= b.Count; j++)
            {
                current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Count];
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonAlphanumeric();
}
