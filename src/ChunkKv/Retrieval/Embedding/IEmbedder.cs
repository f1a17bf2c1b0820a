namespace ChunkKv.Retrieval.Embedding;

/// <summary>Turns texts into vectors for similarity search. Chunks and questions go through the same embedder.</summary>
public interface IEmbedder
{
    /// <summary>
    /// Identity of the vector space, stored with each collection (e.g. <c>hashing-v1:384</c>): a
    /// collection refuses vectors from another embedder, since their similarities mean nothing.
    /// </summary>
    string Name { get; }

    int Dimension { get; }

    /// <summary>One L2-normalised vector of <see cref="Dimension"/> floats per text, in order.</summary>
    Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default);
}

/// <summary>An embedder failed; <see cref="Transient"/> says whether trying again later may work.</summary>
public sealed class EmbeddingException(string message, bool transient, Exception? inner = null) : Exception(message, inner)
{
    public bool Transient { get; } = transient;
}
