using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Fusion;
using ChunkKv.Inference.Models;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Tests.Chunking;

namespace ChunkKv.Tests.Evaluation;

/// <summary>
/// <c>chunkkv eval</c> runs the path the server answers on: a runtime's collection context, its store
/// and its one fuser. Cache-Craft shows it best, since its second sight of a chunk sequence reuses the
/// variants the first left in the fuser (an evaluator with a fuser of its own, as before, recomputed
/// the same rows every time).
/// </summary>
public sealed class EvaluatorPathTests : IDisposable
{
    private readonly LanguageModel _model = ModelFixtures.TinyQwen3();

    private ChunkKvRuntime Runtime() => new(_model, new KvStore([new MemoryTier(64 << 20)]), KvCodec.Create(KvCodecId.F16));

    [Fact]
    public async Task Cache_Craft_figures_of_the_evaluator_equal_two_queries_of_the_same_prompt_on_the_served_path()
    {
        string[] chunks = [Corpus.Sentence(24, seed: 1), Corpus.Sentence(24, seed: 2), Corpus.Sentence(24, seed: 3)];
        const string question = "Which chunk holds the cache?";
        var method = FusionMethod.Parse("cachecraft:0.2");
        // The same question twice: the second finds the first's variants.
        EvalRecord[] records = [new("a", "cross", null, chunks, question, "x"), new("b", "cross", null, chunks, question, "x")];

        var scores = await new FusionEvaluator(Runtime(), maxAnswerTokens: 1).EvaluateAsync(records, [method]);

        var served = Runtime().Collection("", CollectionSettings.None);
        var prompt = served.Prompt(chunks, question);
        var shares = new List<double>();
        for (var i = 0; i < 2; i++)
        {
            using var fused = await served.FuseAsync(prompt, method, answerTokens: 1);
            shares.Add(fused.RecomputedShare);
        }
        Assert.True(shares[0] > 0, "the first fusion recomputes rows");
        Assert.Equal(0, shares[1]); // every chunk after the first is a variant now
        Assert.Equal(shares.Average(), scores.Single().RecomputedShare, precision: 12);
        Assert.Equal(1.0, scores.Single().FirstTokenAgreement);
    }

    [Fact]
    public async Task Full_reads_no_cache_and_every_other_method_loads_the_ones_ingestion_stored()
    {
        var collection = Runtime().Collection("", CollectionSettings.None);
        var prompt = collection.Prompt([Corpus.Sentence(20, seed: 4), Corpus.Sentence(20, seed: 5)], "and then?");
        await collection.StoreCachesAsync(prompt);

        using (var full = await collection.FuseAsync(prompt, FusionMethod.Full, answerTokens: 1))
        {
            Assert.Null(full.ChunkCaches);
            Assert.Equal(TimeSpan.Zero, full.KvLoad);
            Assert.Equal(full.Fusion.Timings.Total, full.Ttft);
        }
        using var blended = await collection.FuseAsync(prompt, FusionMethod.Default, answerTokens: 1);
        Assert.Equal([CacheSource.Hit, CacheSource.Hit], blended.ChunkCaches);
        Assert.Equal(CacheSource.Hit, blended.PrefixCache);
        Assert.Equal(blended.KvLoad + blended.Fusion.Timings.Total, blended.Ttft);
    }

    [Fact]
    public async Task A_prompt_with_another_prefix_than_the_collections_is_refused_rather_than_never_hit()
    {
        var runtime = Runtime();
        var mine = runtime.Collection("", new CollectionSettings(Prefix: "Mine.\n\n"));
        var theirs = runtime.Collection("", new CollectionSettings(Prefix: "Theirs.\n\n"));
        var prompt = theirs.Prompt([Corpus.Sentence(12, seed: 6)], "why?");

        await Assert.ThrowsAsync<ArgumentException>(() => mine.Caches.LoadAsync(prompt));
    }

    public void Dispose() => _model.Dispose();
}
