using System.Numerics.Tensors;

namespace ChunkKv.Retrieval.Embedding;

/// <summary>
/// A deterministic embedder that needs no weights: signed feature hashing of words, word pairs
/// and character n-grams (3–5, which tolerate inflection and text without spaces such as CJK)
/// into <see cref="Dimension"/> buckets, with sublinear term frequency, then L2 normalisation.
/// Cosine similarity then measures shared vocabulary; good enough for lexical questions and the
/// default because it runs anywhere. The sign bit keeps collisions from adding up in expectation.
/// </summary>
public sealed class HashingEmbedder : IEmbedder
{
    public const int DefaultDimension = 384;

    // Weights per feature kind: whole words carry the meaning, pairs word order, n-grams spelling.
    private const float WordWeight = 1f;
    private const float PairWeight = 0.5f;
    private const float NgramWeight = 0.2f;

    public HashingEmbedder(int dimension = DefaultDimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 16);
        Dimension = dimension;
    }

    public string Name => $"hashing-v1:{Dimension}";

    public int Dimension { get; }

    public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default) =>
        Task.FromResult(texts.Select(Embed).ToArray());

    /// <summary>The vector of one text; all zeros when it has no letter, digit or symbol.</summary>
    public float[] Embed(string text)
    {
        var counts = new Dictionary<ulong, (float Weight, int Count)>();
        var words = TextTerms.Words(text);
        if (words.Count == 0)
        {
            words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToList(); // punctuation or stop words only
        }
        string? previous = null;
        foreach (var word in words)
        {
            Add(counts, Hash('w', word), WordWeight);
            if (previous is not null)
            {
                Add(counts, Hash('p', previous + " " + word), PairWeight);
            }
            previous = word;
            var marked = $"<{word}>";
            for (var n = 3; n <= 5; n++)
            {
                for (var i = 0; i + n <= marked.Length; i++)
                {
                    Add(counts, Hash('n', marked.AsSpan(i, n)), NgramWeight);
                }
            }
        }
        var vector = new float[Dimension];
        foreach (var (hash, (weight, count)) in counts)
        {
            // Sublinear term frequency: a repeated feature counts w·(1 + ln n), not w·n.
            var sign = (hash & 1) == 0 ? 1f : -1f;
            vector[(int)((hash >> 1) % (ulong)Dimension)] += sign * weight * (1 + MathF.Log(count));
        }
        UnitVectors.Normalize(vector);
        return vector;
    }

    private static void Add(Dictionary<ulong, (float Weight, int Count)> counts, ulong feature, float weight)
    {
        counts.TryGetValue(feature, out var current);
        counts[feature] = (weight, current.Count + 1);
    }

    /// <summary>64-bit FNV-1a over the kind and the characters: stable across runs and machines, unlike string.GetHashCode.</summary>
    private static ulong Hash(char kind, ReadOnlySpan<char> feature)
    {
        var hash = 14695981039346656037UL;
        hash = (hash ^ kind) * 1099511628211UL;
        foreach (var c in feature)
        {
            hash = (hash ^ (c & 0xFFu)) * 1099511628211UL;
            hash = (hash ^ ((uint)c >> 8)) * 1099511628211UL;
        }
        return hash;
    }
}
