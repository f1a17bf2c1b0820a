using ChunkKv.Retrieval.Embedding;

namespace ChunkKv.Tests.Retrieval.Embedding;

/// <summary>
/// all-MiniLM-L6-v2 in process against the model's own published figures, and the ways the
/// package's tokenizer went wrong (newlines, tabs, accents) and long texts are handled.
/// </summary>
public sealed class MiniLmEmbedderTests : IClassFixture<MiniLmEmbedderTests.Model>
{
    public sealed class Model : IDisposable
    {
        public MiniLmEmbedder Embedder { get; } = MiniLmEmbedder.Load();

        public void Dispose() => Embedder.Dispose();
    }

    private readonly MiniLmEmbedder embedder;

    public MiniLmEmbedderTests(Model model) => embedder = model.Embedder;

    private static double Cosine(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();

    /// <summary>
    /// The similarities sentence-transformers' documentation prints for this model on these three
    /// sentences (a reference run of the Python library): 0.6660, 0.1046 and 0.1411.
    /// </summary>
    [Fact]
    public async Task Similarities_are_the_ones_sentence_transformers_publishes_for_this_model()
    {
        var v = await embedder.EmbedAsync(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]);

        Assert.All(v, e => Assert.Equal(384, e.Length));
        Assert.All(v, e => Assert.Equal(1.0, Math.Sqrt(Cosine(e, e)), precision: 5));
        Assert.Equal(0.6660, Cosine(v[0], v[1]), 3);
        Assert.Equal(0.1046, Cosine(v[0], v[2]), 3);
        Assert.Equal(0.1411, Cosine(v[1], v[2]), 3);
    }

    [Fact]
    public async Task A_batch_embeds_each_text_as_it_would_alone()
    {
        string[] texts = ["short", "A much longer sentence about the harbour fees that merchants paid in copper during winter.", "", "café"];
        var together = await embedder.EmbedAsync(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            var alone = (await embedder.EmbedAsync([texts[i]]))[0];
            Assert.True(Cosine(alone, together[i]) > 0.99999, $"'{texts[i]}': {Cosine(alone, together[i])}");
        }
    }

    [Fact]
    public async Task Newlines_tabs_and_accents_are_read_as_words()
    {
        const string text = "The council records show which merchants paid in copper or salt during the winter months.";
        var v = await embedder.EmbedAsync([text, text.Replace(' ', '\n'), text.Replace(' ', '\t'),
            "Le café crème coûte trois euros.", "Le cafe creme coute trois euros."]);
        Assert.True(Cosine(v[0], v[1]) > 0.9999, $"newlines: {Cosine(v[0], v[1])}");
        Assert.True(Cosine(v[0], v[2]) > 0.9999, $"tabs: {Cosine(v[0], v[2])}");
        Assert.True(Cosine(v[3], v[4]) > 0.9999, $"accents: {Cosine(v[3], v[4])}"); // uncased BERT strips them, as the model was trained
    }

    [Fact]
    public async Task A_text_longer_than_the_window_is_embedded_whole_not_cut()
    {
        var head = string.Join(' ', Enumerable.Repeat("The harbour master counts the ships and the fees they paid.", 30));
        var tail = string.Join(' ', Enumerable.Repeat("A violinist tuned her instrument before the evening concert began.", 30));
        var v = await embedder.EmbedAsync([head, head + " " + tail, tail]);

        // Cut at the window, head + tail would be head alone; pooled over every token, it lies between the two.
        Assert.True(Cosine(v[0], v[1]) < 0.95, $"the tail was dropped: {Cosine(v[0], v[1])}");
        Assert.True(Cosine(v[1], v[2]) > Cosine(v[0], v[2]) + 0.1, "the tail does not count");
    }

    [Fact]
    public void Weights_that_are_not_there_are_a_clear_error_naming_the_package_and_the_fallback()
    {
        var error = Assert.Throws<EmbeddingException>(() => MiniLmEmbedder.Load(Path.Combine(Path.GetTempPath(), "no-such-weights.dll")));
        Assert.Contains(MiniLmEmbedder.PackageName, error.Message, StringComparison.Ordinal);
        Assert.Contains("CHUNKKV_EMBEDDER=hashing", error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }
}
