using System.Numerics.Tensors;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Retrieval.Embedding;

/// <summary>
/// The engine's own embedding: the mean of the hidden states over a text's tokens, L2-normalised.
/// By default the final-normed states; <paramref name="layers"/> pools the residual stream after
/// that many layers instead (intermediate layers of a causal model often embed better than the
/// last; 0 pools the token embeddings). A causal language model is not trained for this, so
/// expect it to trail a real embedding model; it needs no other weights and no server. Texts
/// longer than <paramref name="maxTokens"/> are embedded from their first tokens.
/// </summary>
public sealed class EngineEmbedder(LanguageModel model, int maxTokens = 512, int? layers = null) : IEmbedder
{
    private readonly Tokenizer _tokenizer = model.Tokenizer
        ?? throw new ArgumentException($"the model in {model.Directory} has no tokenizer.json", nameof(model));

    private readonly int? _layers = layers is < 0 || layers > model.Config.Layers
        ? throw new ArgumentOutOfRangeException(nameof(layers), layers, $"the model has {model.Config.Layers} layers")
        : layers;

    public string Name => $"engine-mean:{model.Fingerprint[..16]}:{(_layers is { } l ? $"layer{l}" : "final")}";

    public int Dimension => model.Config.HiddenSize;

    public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default) =>
        Task.Run(() => texts.Select(text =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Embed(text);
        }).ToArray(), cancellationToken);

    private float[] Embed(string text)
    {
        var ids = _tokenizer.Encode(text, addSpecialTokens: false);
        var vector = new float[Dimension];
        if (ids.Length == 0)
        {
            return vector;
        }
        var hidden = model.Transformer.HiddenStates(ids.AsSpan(0, Math.Min(ids.Length, maxTokens)), _layers);
        for (var row = 0; row < hidden.Length / Dimension; row++)
        {
            TensorPrimitives.Add(vector, hidden.AsSpan(row * Dimension, Dimension), vector);
        }
        UnitVectors.Normalize(vector);
        return vector;
    }
}
