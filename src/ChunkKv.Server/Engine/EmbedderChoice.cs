using ChunkKv.Inference.Models;
using ChunkKv.Retrieval.Embedding;

namespace ChunkKv.Server.Engine;

/// <summary>
/// The server's embedder, chosen by <see cref="EngineOptions.Embedder"/>: <c>minilm</c> (the default:
/// all-MiniLM-L6-v2 in process, <see cref="MiniLmEmbedder"/>), <c>hashing</c> (no weights, the fallback),
/// <c>engine</c> (the served model's pooled hidden states) or <c>openai</c> (any OpenAI-compatible
/// <c>/embeddings</c> endpoint). Each collection records the embedder it was made with; one made with
/// another is refused with a 409 rather than searched with vectors of another space.
/// </summary>
public static class EmbedderChoice
{
    public const string Names = "minilm, hashing, engine, openai";

    /// <exception cref="InvalidOperationException">The choice is unknown or its settings are missing; the message names the setting.</exception>
    public static IEmbedder Create(EngineOptions options, LanguageModel model)
    {
        ArgumentNullException.ThrowIfNull(options);
        switch (options.Embedder.Trim().ToLowerInvariant())
        {
            case "minilm":
                // A model that does not load stops the server, naming the package and the fallback: a
                // silent switch would give the server's new collections another embedder than its old ones.
                try
                {
                    return MiniLmEmbedder.Load();
                }
                catch (EmbeddingException e)
                {
                    throw new InvalidOperationException(e.Message, e);
                }
            case "hashing":
                return new HashingEmbedder();
            case "engine":
                return new EngineEmbedder(model, layers: options.EmbedderLayer);
            case "openai":
                var url = options.EmbedderUrl is { Length: > 0 } text && Uri.TryCreate(text, UriKind.Absolute, out var parsed) ? parsed
                    : throw new InvalidOperationException("Embedder=openai needs EmbedderUrl (CHUNKKV_EMBEDDERURL), the API root /embeddings is appended to");
                var name = options.EmbedderModel is { Length: > 0 } m ? m
                    : throw new InvalidOperationException("Embedder=openai needs EmbedderModel (CHUNKKV_EMBEDDERMODEL)");
                var dimension = options.EmbedderDimension is > 0 and var d ? d
                    : throw new InvalidOperationException("Embedder=openai needs EmbedderDimension (CHUNKKV_EMBEDDERDIMENSION), the length of its vectors");
                return new OpenAiEmbedder(new OpenAiEmbedderOptions
                {
                    BaseUrl = url, Model = name, Dimension = dimension, ApiKey = options.EmbedderApiKey,
                });
            default:
                throw new InvalidOperationException($"Embedder is '{options.Embedder}'; expected one of {Names}");
        }
    }
}
