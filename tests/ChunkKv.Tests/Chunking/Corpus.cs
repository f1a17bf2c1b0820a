using System.Text;

namespace ChunkKv.Tests.Chunking;

/// <summary>Deterministic filler text for chunking tests.</summary>
internal static class Corpus
{
    private static readonly string[] Words =
    [
        "cache", "token", "layer", "the", "model", "retrieval", "of", "chunk", "attention", "vector", "and", "query",
        "position", "a", "document", "store", "fusion", "key", "value", "is", "recompute", "prefix", "index", "to",
    ];

    /// <summary>Paragraphs of 3–6 sentences of 6–18 words, separated by blank lines.</summary>
    public static string Prose(int paragraphs, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var p = 0; p < paragraphs; p++)
        {
            if (p > 0)
            {
                text.Append("\n\n");
            }
            var sentences = random.Next(3, 7);
            for (var s = 0; s < sentences; s++)
            {
                var words = Enumerable.Range(0, random.Next(6, 19)).Select(_ => Words[random.Next(Words.Length)]).ToArray();
                words[0] = char.ToUpperInvariant(words[0][0]) + words[0][1..];
                text.Append(s > 0 ? " " : "").AppendJoin(' ', words).Append(random.Next(5) == 0 ? '?' : '.');
            }
        }
        return text.ToString();
    }

    /// <summary>One sentence of <paramref name="words"/> words (about as many tokens): a paragraph of known size.</summary>
    public static string Sentence(int words, int seed)
    {
        var random = new Random(seed);
        var picked = Enumerable.Range(0, words).Select(_ => Words[random.Next(Words.Length)]).ToArray();
        picked[0] = char.ToUpperInvariant(picked[0][0]) + picked[0][1..];
        return string.Join(' ', picked) + ".";
    }

    /// <summary>A run of text without spaces or sentence ends (CJK-like), longer than any chunk.</summary>
    public static string Unspaced(int length) =>
        string.Concat(Enumerable.Range(0, length).Select(i => "缓存键值注意力检索"[i % 9]));
}
