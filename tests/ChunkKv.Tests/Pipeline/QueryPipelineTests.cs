using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Chunking;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Tests.Chunking;
using ChunkKv.Prompts;

namespace ChunkKv.Tests.Pipeline;

/// <summary>
/// Ingest then ask, end to end (tiny random model, real Qwen3 tokenizer, embedded index, memory
/// store): ingestion stores each chunk's cache in the prompt layout after the collection's prefix,
/// so a query finds every one of them; a cache that is gone is computed on the spot, and the answer
/// is what a plain prefill of the same prompt gives.
/// </summary>
public sealed class QueryPipelineTests : IDisposable
{
    private const string Prefix = "Notes for the question below.\n\n";
    private readonly LanguageModel _model = ModelFixtures.TinyQwen3();
    private readonly string _folder = Fixtures.TempDirectory("query");
    private readonly EmbeddedChunkIndex _index;
    private readonly KvStore _store = new([new MemoryTier(64 << 20)]);
    private readonly HashingEmbedder _embedder = new(64);
    private readonly PromptLayout _layout = PromptLayout.Default with { Prefix = Prefix };
    private readonly KvCodec _codec = KvCodec.Create(KvCodecId.F32);

    public QueryPipelineTests() => _index = EmbeddedChunkIndex.Open(Path.Combine(_folder, "index"));

    private async Task IngestAsync(params string[] texts)
    {
        var collection = Pipeline();
        for (var i = 0; i < texts.Length; i++)
        {
            await collection.IngestAsync(new DocumentInput($"doc-{i}", texts[i]));
        }
    }

    /// <summary>The collection "docs" (40-token chunks) on a runtime of its own over the shared model, index and store: nothing kept from another.</summary>
    private CollectionContext Pipeline() =>
        new ChunkKvRuntime(_model, _store, _codec, _layout, new RetrievalStores(_index, _embedder)).Collection("docs", new CollectionSettings(ChunkTokens: 40));

    /// <summary>The key a chunk's cache is stored under: its prompt form, after the prefix.</summary>
    private ChunkCacheKey KeyOf(string content)
    {
        var collection = Pipeline();
        return collection.Caches.KeyOf(collection.ChunkPromptTokens(content));
    }

    [Fact]
    public async Task Every_retrieved_chunk_cache_is_a_hit_and_full_equals_a_plain_prefill()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 6, seed: 3), Corpus.Prose(paragraphs: 6, seed: 4));
        var request = new QueryRequest("What does the cache of layer seven hold?", TopK: 4, Method: FusionMethod.Full, MaxTokens: 6);

        var streamed = new List<string>();
        var result = await Pipeline().AskAsync(request, streamed.Add);
        var reused = await Pipeline().AskAsync(request with { Method = FusionMethod.Reuse });

        Assert.Equal(4, result.Sources.Count);
        Assert.All(result.Sources, s => Assert.Equal(CacheSource.Unused, s.Cache)); // full reads no cache
        Assert.All(reused.Sources, s => Assert.Equal(CacheSource.Hit, s.Cache));
        Assert.Equal(result.Answer, string.Concat(streamed));
        // The same prompt, prefilled plainly, gives the same greedy answer.
        var prompt = Pipeline().Prompt(result.Sources.Select(s => s.Hit.Content), request.Question);
        var plain = Generator.Generate(_model.Transformer, prompt.AllTokens(), 6, SamplingOptions.Greedy);
        Assert.Equal(plain.Tokens, result.AnswerTokens);
        Assert.Equal(prompt.Length, result.PromptTokens);
        Assert.True(result.Timings.Ttft > 0 && result.Timings.Ttft >= result.Timings.KvLoad);
    }

    [Fact]
    public async Task A_sequence_kept_from_one_query_carries_nothing_into_the_next()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 6, seed: 3), Corpus.Prose(paragraphs: 6, seed: 4));
        var longer = new QueryRequest("What does the cache of layer seven hold?", TopK: 4, Method: FusionMethod.Parse("cacheblend:0.3"), MaxTokens: 6);
        var shorter = longer with { Question = "keys", TopK = 2, MaxTokens = 4 };
        var reused = Pipeline();

        var first = await reused.AskAsync(longer);
        var second = await reused.AskAsync(shorter);   // fills the kept sequence again, with fewer slots
        var third = await reused.AskAsync(longer);

        var fresh = await Pipeline().AskAsync(shorter);
        Assert.Equal(fresh.AnswerTokens, second.AnswerTokens);
        Assert.Equal(first.AnswerTokens, third.AnswerTokens);
        Assert.Equal(first.RecomputedTokens, third.RecomputedTokens);
    }

    [Fact]
    public async Task Chunks_of_one_document_go_into_the_prompt_in_their_order()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 10, seed: 5));
        var result = await Pipeline().AskAsync(new QueryRequest("the keys of the cache", TopK: 5, MaxTokens: 1));
        var ordinals = result.Sources.Select(s => s.Hit.Ordinal).ToList();
        Assert.Equal(ordinals.Order(), ordinals);
        Assert.Equal(result.Sources.Select(s => s.PromptStart).Order(), result.Sources.Select(s => s.PromptStart));
    }

    [Fact]
    public async Task A_missing_cache_is_computed_on_the_spot_and_stored()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 4, seed: 6));
        var pipeline = Pipeline();
        var first = await pipeline.AskAsync(new QueryRequest("layer seven", TopK: 2, MaxTokens: 2));
        var lost = KeyOf(first.Sources[0].Hit.Content);
        await _store.RemoveAsync(lost);

        var again = await pipeline.AskAsync(new QueryRequest("layer seven", TopK: 2, MaxTokens: 2));

        Assert.Equal(CacheSource.Computed, again.Sources[0].Cache);
        Assert.Equal(first.AnswerTokens, again.AnswerTokens);
        Assert.True(await _store.ContainsAsync(lost));
    }

    [Fact]
    public async Task A_corrupt_cache_is_computed_again_and_replaced_never_served()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 4, seed: 6));
        var pipeline = Pipeline();
        var request = new QueryRequest("layer seven", TopK: 2, Method: FusionMethod.Reuse, MaxTokens: 3);
        var first = await pipeline.AskAsync(request);
        var key = KeyOf(first.Sources[1].Hit.Content);
        var tier = _store.Tiers[0];
        byte[] corrupt;
        using (var stored = await tier.GetAsync(key, default))
        {
            corrupt = stored!.Bytes.ToArray();
        }
        corrupt[^7] ^= 0x40; // inside the last layer's values
        await tier.PutAsync(key, corrupt, default);

        var again = await pipeline.AskAsync(request);

        Assert.Equal(CacheSource.Hit, again.Sources[0].Cache);
        Assert.Equal(CacheSource.Computed, again.Sources[1].Cache);
        Assert.Equal(first.AnswerTokens, again.AnswerTokens);
        using var replaced = await tier.GetAsync(key, default);
        Assert.NotEqual(corrupt, replaced!.Bytes.ToArray());
        Assert.Equal(CacheSource.Hit, (await pipeline.AskAsync(request)).Sources[1].Cache);
    }

    [Fact]
    public async Task A_valid_entry_copied_over_another_chunks_key_is_computed_again_never_served()
    {
        // Two chunks of the same length, so the swapped entry fits its slots: only its key tells it apart.
        const string Paragraph = "The cache of layer seven holds the keys and the values of every token in the {0} chunk of the notes.";
        await IngestAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Paragraph, "red") + "\n\n"
            + string.Format(System.Globalization.CultureInfo.InvariantCulture, Paragraph, "blue"));
        var pipeline = Pipeline();
        var request = new QueryRequest("layer seven", TopK: 2, Method: FusionMethod.Reuse, MaxTokens: 3);
        var first = await pipeline.AskAsync(request);
        Assert.Equal(2, first.Sources.Count);
        Assert.Equal(first.Sources[0].PromptTokens, first.Sources[1].PromptTokens);
        var (source, target) = (KeyOf(first.Sources[0].Hit.Content), KeyOf(first.Sources[1].Hit.Content));
        var tier = _store.Tiers[0];
        using (var stored = await tier.GetAsync(source, default))
        {
            await tier.PutAsync(target, stored!.Bytes.ToArray(), default); // an intact entry, of the wrong chunk
        }

        var again = await pipeline.AskAsync(request);

        Assert.Equal(CacheSource.Hit, again.Sources[0].Cache);
        Assert.Equal(CacheSource.Computed, again.Sources[1].Cache);
        Assert.Equal(first.AnswerTokens, again.AnswerTokens);
        Assert.Equal(CacheSource.Hit, (await pipeline.AskAsync(request)).Sources[1].Cache);
    }

    [Fact]
    public async Task CacheBlend_reports_the_recomputed_rows_of_each_source()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 8, seed: 7));
        var result = await Pipeline().AskAsync(new QueryRequest("keys and values", TopK: 4, Method: FusionMethod.Parse("cacheblend:0.2"), MaxTokens: 1));
        var chunkTokens = result.Sources.Sum(s => s.PromptTokens);
        Assert.Equal((int)Math.Floor(0.2 * chunkTokens), result.RecomputedTokens);
        Assert.Equal(result.RecomputedTokens, result.Sources.Sum(s => s.RecomputedOffsets.Length));
        Assert.All(result.Sources, s => Assert.All(s.RecomputedOffsets, o => Assert.InRange(o, 0, s.PromptTokens - 1)));
    }

    [Fact]
    public async Task Each_hit_brings_its_neighbours_in_document_order_within_top_k()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 10, seed: 9));
        var plain = await Pipeline().AskAsync(new QueryRequest("the keys of the cache", TopK: 1, MaxTokens: 1));
        var hit = Assert.Single(plain.Sources).Hit;

        var around = await Pipeline().AskAsync(new QueryRequest("the keys of the cache", TopK: 3, MaxTokens: 1, Neighbours: new Neighbours(1, 1)));

        // The best hit with the chunks before and after it (those that exist), in document order, all cache hits.
        var expected = new[] { hit.Ordinal - 1, hit.Ordinal, hit.Ordinal + 1 }.Where(o => o >= 0).ToList();
        Assert.Equal(expected, around.Sources.Take(expected.Count).Select(s => s.Hit.Ordinal));
        Assert.True(around.Sources.Count <= 3);
        Assert.False(around.Sources.Single(s => s.Hit.Ordinal == hit.Ordinal).Neighbour);
        Assert.All(around.Sources, s => Assert.Equal(CacheSource.Hit, s.Cache));
        Assert.Equal(around.Sources.Select(s => s.PromptStart).Order(), around.Sources.Select(s => s.PromptStart));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            Pipeline().AskAsync(new QueryRequest("keys", Neighbours: new Neighbours(0, Neighbours.Most + 1))));
    }

    [Fact]
    public async Task A_prompt_longer_than_the_model_allows_is_refused_before_any_work()
    {
        await IngestAsync(Corpus.Prose(paragraphs: 4, seed: 8));
        var error = await Assert.ThrowsAsync<PromptTooLongException>(() =>
            Pipeline().AskAsync(new QueryRequest("layer", TopK: 2, MaxTokens: _model.Config.MaxPositions)));
        Assert.Equal(_model.Config.MaxPositions, error.MaxPositions);
    }

    public void Dispose()
    {
        _index.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
