using System.Text.Json.Nodes;

namespace ChunkKv.Retrieval.Indexing;

public enum SearchMode
{
    /// <summary>Cosine similarity of the embeddings only; the score is the cosine.</summary>
    Vector,

    /// <summary>
    /// Vector similarity and full-text relevance of <see cref="SearchRequest.Text"/>, fused by
    /// reciprocal rank (score Σ 1/(60 + rank)); catches exact names and numbers that embeddings blur.
    /// </summary>
    Hybrid,
}

/// <param name="Vector">The question's embedding, of the collection's dimension.</param>
/// <param name="Text">The question's text: needed for <see cref="SearchMode.Hybrid"/>.</param>
/// <param name="Filter">Only documents whose metadata holds each of these keys with exactly this value (strings, numbers, booleans, null).</param>
public sealed record SearchRequest(float[] Vector, int Limit = 5, SearchMode Mode = SearchMode.Vector, string? Text = null,
    JsonObject? Filter = null)
{
    public const int MaxLimit = 1000;

    /// <summary>Candidates each ranking contributes to the fusion.</summary>
    internal int CandidatePool => Math.Min(MaxLimit, Math.Max(Limit * 4, 40));

    /// <summary>Refuses what no provider can answer, with a message for the caller.</summary>
    public void Validate(CollectionInfo collection)
    {
        collection.CheckDimension(Vector, "the query vector");
        if (System.Numerics.Tensors.TensorPrimitives.Norm(Vector) is 0 or float.NaN)
        {
            throw new ArgumentException("the query vector is zero (or not a number): the question has nothing to search for");
        }
        if (Limit is < 1 or > MaxLimit)
        {
            throw new ArgumentException($"limit must be between 1 and {MaxLimit} (got {Limit})");
        }
        if (Mode == SearchMode.Hybrid && string.IsNullOrWhiteSpace(Text))
        {
            throw new ArgumentException("hybrid search needs the question's text");
        }
        foreach (var (key, value) in Filter ?? [])
        {
            if (value is JsonObject or JsonArray)
            {
                throw new ArgumentException($"filter '{key}' must be a string, number, boolean or null");
            }
        }
    }
}
