using ChunkKv.Retrieval.Embedding;

namespace ChunkKv.Tests.Retrieval.Embedding;

/// <summary>The embedders that run in-process: feature hashing and the engine's pooled hidden states.</summary>
public sealed class LocalEmbedderTests
{
    private static float Cosine(float[] a, float[] b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    [Fact]
    public async Task Hashing_vectors_are_deterministic_unit_length_and_closer_for_shared_words()
    {
        var embedder = new HashingEmbedder(256);
        string[] texts =
        [
            "The capital of Zorvania is Melquist, a port on the eastern shore.",
            "Which city is the capital of Zorvania?",
            "Copper mining dominates the economy of the northern valleys.",
        ];

        var first = await embedder.EmbedAsync(texts);
        var second = await new HashingEmbedder(256).EmbedAsync(texts);

        Assert.Equal("hashing-v1:256", embedder.Name);
        Assert.All(first, v => Assert.Equal(256, v.Length));
        Assert.All(first, v => Assert.Equal(1f, System.Numerics.Tensors.TensorPrimitives.Norm(v), 1e-5f));
        Assert.Equal(first, second);
        Assert.True(Cosine(first[0], first[1]) > 0.3f, $"shared words: {Cosine(first[0], first[1])}");
        Assert.True(Cosine(first[0], first[1]) > Cosine(first[2], first[1]) + 0.2f);
    }

    [Fact]
    public void Hashing_ignores_case_and_stop_words_and_gives_zero_for_blank_text()
    {
        var embedder = new HashingEmbedder();
        Assert.Equal(embedder.Embed("Copper Mining"), embedder.Embed("the copper of mining"));
        Assert.All(embedder.Embed(" \n "), v => Assert.Equal(0f, v));
        Assert.NotEqual(0f, System.Numerics.Tensors.TensorPrimitives.Norm(embedder.Embed("---")));
    }

    [Fact]
    public void Hashing_distinguishes_word_order_through_word_pairs()
    {
        var embedder = new HashingEmbedder();
        var similarity = Cosine(embedder.Embed("dog bites man"), embedder.Embed("man bites dog"));
        Assert.InRange(similarity, 0.5f, 0.99f);
    }

    [Fact]
    public async Task Engine_embedding_of_layer_0_is_the_normalised_mean_of_the_token_embeddings()
    {
        using var model = ModelFixtures.TinyQwen3();
        var embedder = new EngineEmbedder(model, layers: 0);
        var ids = model.Tokenizer!.Encode("copper and saffron", addSpecialTokens: false);
        var width = model.Config.HiddenSize;
        var rows = new float[ids.Length * width];
        model.Transformer.Embed(ids, rows);
        var mean = Enumerable.Range(0, width).Select(i => Enumerable.Range(0, ids.Length).Sum(r => (double)rows[r * width + i])).ToArray();
        var norm = Math.Sqrt(mean.Sum(v => v * v));

        var vector = (await embedder.EmbedAsync(["copper and saffron"]))[0];

        Assert.EndsWith(":layer0", embedder.Name, StringComparison.Ordinal);
        for (var i = 0; i < width; i++)
        {
            Assert.Equal(mean[i] / norm, vector[i], 1e-5);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new EngineEmbedder(model, layers: model.Config.Layers + 1));
    }

    [Fact]
    public async Task Engine_embedding_is_the_normalised_mean_of_the_final_hidden_states()
    {
        using var model = ModelFixtures.TinyQwen3();
        var embedder = new EngineEmbedder(model, maxTokens: 6);
        const string text = "Melquist is the capital of Zorvania, a port on the eastern shore.";

        var vector = (await embedder.EmbedAsync([text]))[0];

        // Independent pooling in double precision over the same (truncated) tokens.
        var ids = model.Tokenizer!.Encode(text, addSpecialTokens: false)[..6];
        var hidden = model.Transformer.HiddenStates(ids);
        var width = model.Config.HiddenSize;
        var mean = new double[width];
        for (var i = 0; i < hidden.Length; i++)
        {
            mean[i % width] += hidden[i] / ids.Length;
        }
        var norm = Math.Sqrt(mean.Sum(v => v * v));
        Assert.Equal(width, embedder.Dimension);
        Assert.StartsWith("engine-mean:", embedder.Name, StringComparison.Ordinal);
        for (var i = 0; i < width; i++)
        {
            Assert.Equal(mean[i] / norm, vector[i], 1e-5);
        }
    }
}
