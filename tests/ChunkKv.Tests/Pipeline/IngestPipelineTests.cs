using System.Collections.Concurrent;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Chunking;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Tests.Chunking;

namespace ChunkKv.Tests.Pipeline;

/// <summary>The ingest pipeline end to end: tiny random model with the real Qwen3 tokenizer, embedded index, memory + disk store.</summary>
public sealed class IngestPipelineTests : IDisposable
{
    private readonly LanguageModel _model = ModelFixtures.TinyQwen3();
    private readonly string _folder = Fixtures.TempDirectory("ingest");
    private readonly EmbeddedChunkIndex _index;
    private readonly KvStore _store;
    private readonly KvPrecomputer _precomputer;
    private readonly CountingEmbedder _embedder = new(new HashingEmbedder(64));
    private readonly Chunker _chunker;

    public IngestPipelineTests()
    {
        _index = EmbeddedChunkIndex.Open(Path.Combine(_folder, "index"));
        _store = new KvStore([new MemoryTier(64 << 20), new DiskTier(Path.Combine(_folder, "kv"))]);
        _precomputer = new KvPrecomputer(_model, _store, KvCodec.Create(KvCodecId.F32));
        _chunker = new Chunker(_model.Tokenizer!, new ChunkingOptions { TargetTokens = 48 });
    }

    private IngestPipeline Pipeline(IEmbedder? embedder = null, bool precompute = true) =>
        new(_chunker, embedder ?? _embedder, _index, _precomputer.Keys, precompute ? _precomputer : null, new IngestOptions { BatchSize = 4 });

    [Fact]
    public async Task A_document_is_chunked_indexed_and_every_chunk_cache_stored_with_progress()
    {
        var text = Corpus.Prose(paragraphs: 8, seed: 1);
        var progress = new ConcurrentQueue<IngestProgress>();

        var result = await Pipeline().IngestAsync("docs", new DocumentInput("a", text), new SyncProgress(progress.Enqueue));

        var chunks = _chunker.Split(text);
        Assert.Equal((IngestOutcome.Ingested, chunks.Count, chunks.Count), (result.Outcome, result.Chunks, result.Embedded));
        Assert.Equal(chunks.Select(c => _precomputer.Keys.Of(c.TokenIds)).Distinct().Count(), result.CachesComputed);
        foreach (var chunk in chunks)
        {
            var key = _precomputer.Keys.Of(chunk.TokenIds);
            var stored = (await _store.GetAsync(key, _precomputer.Keys.ModelFingerprint))!.Kv;
            var expected = _precomputer.Compute(chunk.TokenIds);
            Assert.Equal(expected.Positions, stored.Positions);
            Assert.Equal(expected.Keys[^1], stored.Keys[^1]); // f32: bit for bit
            Assert.Equal(expected.Values[0], stored.Values[0]);
        }
        var hits = await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(chunks[3].Text), Limit: 1));
        Assert.Equal(3, hits[0].Ordinal);
        Assert.Equal(_precomputer.Keys.Of(chunks[3].TokenIds).ToBytes(), hits[0].CacheKey);
        foreach (var stage in new[] { IngestStage.Indexing, IngestStage.Caching })
        {
            var reports = progress.Where(p => p.Stage == stage).ToList();
            Assert.Equal(reports.Select(p => p.Done).Order(), reports.Select(p => p.Done));
            Assert.Equal(reports[^1].Total, reports[^1].Done);
        }
    }

    [Fact]
    public async Task Ingesting_the_same_document_again_changes_and_recomputes_nothing()
    {
        var document = new DocumentInput("a", Corpus.Prose(paragraphs: 4, seed: 2));
        await Pipeline().IngestAsync("docs", document);
        var embeddedTexts = _embedder.Texts;
        var journal = _index.JournalBytes;

        var again = await Pipeline().IngestAsync("docs", document);

        Assert.Equal((IngestOutcome.Unchanged, 0, 0), (again.Outcome, again.Embedded, again.CachesComputed));
        Assert.Equal(embeddedTexts, _embedder.Texts);
        Assert.Equal(journal, _index.JournalBytes);
    }

    [Fact]
    public async Task Identical_chunk_text_in_two_documents_shares_one_cache()
    {
        // Paragraphs of ~30 tokens: two never fit one 48-token chunk, so each is a chunk of its own.
        var shared = Corpus.Sentence(30, seed: 3);
        var first = await Pipeline().IngestAsync("docs", new DocumentInput("a", Corpus.Sentence(30, seed: 4) + "\n\n" + shared));
        var second = await Pipeline().IngestAsync("docs", new DocumentInput("b", shared + "\n\n" + Corpus.Sentence(30, seed: 5)));

        var sharedKeys = _chunker.Split(shared).Select(c => _precomputer.Keys.Of(c.TokenIds)).ToList();
        Assert.Single(sharedKeys);
        Assert.Equal((2, 2), (first.Chunks, first.CachesComputed));
        Assert.Equal((2, 1), (second.Chunks, second.CachesComputed));

        // Deleting one document keeps the caches the other still uses.
        Assert.True(await Pipeline().DeleteAsync("docs", "a"));
        Assert.All(sharedKeys, key => Assert.True(_store.ContainsAsync(key).Result));
        await Pipeline().DeleteAsync("docs", "b");
        Assert.All(sharedKeys, key => Assert.False(_store.ContainsAsync(key).Result));
    }

    [Fact]
    public async Task An_interrupted_ingestion_stays_invisible_and_resumes_where_it_stopped()
    {
        var document = new DocumentInput("a", Corpus.Prose(paragraphs: 10, seed: 6));
        var total = _chunker.Split(document.Text).Count;
        var failing = new CountingEmbedder(new HashingEmbedder(64), failAfterBatches: 2);

        await Assert.ThrowsAsync<EmbeddingException>(() => Pipeline(failing).IngestAsync("docs", document));

        Assert.Equal(DocumentStatus.Ingesting, (await _index.GetDocumentAsync("docs", "a"))!.Status);
        Assert.Empty(await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(document.Text))));
        var resumed = await Pipeline().IngestAsync("docs", document);
        Assert.Equal((IngestOutcome.Resumed, total, total - 8), (resumed.Outcome, resumed.Chunks, resumed.Embedded));
        Assert.Equal(DocumentStatus.Ready, (await _index.GetDocumentAsync("docs", "a"))!.Status);
        Assert.NotEmpty(await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(document.Text))));
    }

    [Fact]
    public async Task Changed_content_replaces_the_document_and_drops_only_the_caches_no_longer_used()
    {
        var kept = Corpus.Sentence(30, seed: 7);
        var dropped = Corpus.Sentence(30, seed: 8);
        await Pipeline().IngestAsync("docs", new DocumentInput("a", kept + "\n\n" + dropped));

        var replaced = await Pipeline().IngestAsync("docs", new DocumentInput("a", kept + "\n\n" + Corpus.Sentence(30, seed: 9)));

        Assert.Equal(IngestOutcome.Replaced, replaced.Outcome);
        Assert.All(_chunker.Split(kept), c => Assert.True(_store.ContainsAsync(_precomputer.Keys.Of(c.TokenIds)).Result));
        Assert.All(_chunker.Split(dropped), c => Assert.False(_store.ContainsAsync(_precomputer.Keys.Of(c.TokenIds)).Result));
        var hits = await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(dropped), Limit: 50));
        Assert.DoesNotContain(hits, h => h.Content == dropped);
    }

    [Fact]
    public async Task Without_precompute_chunks_are_indexed_with_their_cache_keys_and_nothing_is_stored()
    {
        var text = Corpus.Prose(paragraphs: 3, seed: 10);
        var result = await Pipeline(precompute: false).IngestAsync("docs", new DocumentInput("a", text));

        Assert.Equal(0, result.CachesComputed);
        var first = _chunker.Split(text)[0];
        Assert.False(await _store.ContainsAsync(_precomputer.Keys.Of(first.TokenIds)));
        var hit = (await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(first.Text), Limit: 1)))[0];
        Assert.Equal(_precomputer.Keys.Of(first.TokenIds).ToBytes(), hit.CacheKey);
    }

    public void Dispose()
    {
        _index.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and race the asserts).</summary>
    private sealed class SyncProgress(Action<IngestProgress> report) : IProgress<IngestProgress>
    {
        public void Report(IngestProgress value) => report(value);
    }

    /// <summary>Counts what it embeds; optionally fails (transiently) after some batches, like a server going away.</summary>
    private sealed class CountingEmbedder(HashingEmbedder inner, int failAfterBatches = int.MaxValue) : IEmbedder
    {
        private int _batches;

        public HashingEmbedder Inner => inner;
        public int Texts { get; private set; }
        public string Name => inner.Name;
        public int Dimension => inner.Dimension;

        public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
        {
            if (_batches++ >= failAfterBatches)
            {
                throw new EmbeddingException("embedding server went away", transient: true);
            }
            Texts += texts.Count;
            return inner.EmbedAsync(texts, cancellationToken);
        }
    }
}
