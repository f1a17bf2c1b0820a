using ChunkKv.Inference.Kv;

namespace ChunkKv.Fusion;

/// <summary>
/// A prompt in the layout fusion works on: <c>P ++ C₁ ++ … ++ Cₘ ++ Q</c> in tokens (prefix, each
/// chunk with its separator, question template), at global positions <c>0 … N−1</c>.
/// </summary>
public sealed class FusionPrompt
{
    public FusionPrompt(int[] prefix, IReadOnlyList<int[]> chunks, int[] question)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(question);
        if (question.Length == 0)
        {
            throw new ArgumentException("the question has no tokens: the first token is predicted from its last row", nameof(question));
        }
        if (chunks.Any(c => c is null || c.Length == 0))
        {
            throw new ArgumentException("a chunk has no tokens", nameof(chunks));
        }
        Prefix = prefix;
        Chunks = chunks;
        Question = question;
        ChunkStarts = new int[chunks.Count];
        var at = prefix.Length;
        for (var i = 0; i < chunks.Count; i++)
        {
            ChunkStarts[i] = at;
            at += chunks[i].Length;
        }
        ContextLength = at;
    }

    public int[] Prefix { get; }
    public IReadOnlyList<int[]> Chunks { get; }
    public int[] Question { get; }

    /// <summary>The global position (and slot) of each chunk's first token.</summary>
    public int[] ChunkStarts { get; }

    /// <summary>Tokens before the question: <c>|P| + Σ|Cᵢ|</c>.</summary>
    public int ContextLength { get; }

    public int Length => ContextLength + Question.Length;

    /// <summary>Tokens in <c>C₁ … Cₘ</c>.</summary>
    public int TotalChunkTokens => ContextLength - Prefix.Length;

    /// <summary>Every token of the prompt in order.</summary>
    public int[] AllTokens() => [.. Prefix, .. Chunks.SelectMany(c => c), .. Question];

    /// <summary>The token at global index <paramref name="index"/>.</summary>
    public int TokenAt(int index)
    {
        if (index < Prefix.Length)
        {
            return Prefix[index];
        }
        if (index >= ContextLength)
        {
            return Question[index - ContextLength];
        }
        var chunk = Array.BinarySearch(ChunkStarts, index);
        chunk = chunk >= 0 ? chunk : ~chunk - 1;
        return Chunks[chunk][index - ChunkStarts[chunk]];
    }
}

/// <summary>
/// The stored caches a fused prompt is made of: the prefix's K/V at positions <c>0 … |P|−1</c> and
/// each chunk's K/V computed after the prefix (positions <c>|P| … |P|+|Cᵢ|−1</c>, keys after RoPE).
/// </summary>
public sealed record PromptCaches(IKvLayerSource? Prefix, IReadOnlyList<IKvLayerSource> Chunks);
