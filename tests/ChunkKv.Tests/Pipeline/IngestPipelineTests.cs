using System.Collections.Concurrent;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Chunking;
using ChunkKv.Collections;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Tests.Chunking;
using ChunkKv.Prompts;

namespace ChunkKv.Tests.Pipeline;

/// <summary>The ingest pipeline end to end: tiny random model with the real Qwen3 tokenizer, embedded index, memory + disk store.</summary>
public sealed class IngestPipelineTests : IDisposable
{
    private readonly LanguageModel _model = ModelFixtures.TinyQwen3();
    private readonly string _folder = Fixtures.TempDirectory("ingest");
    private readonly EmbeddedChunkIndex _index;
    private readonly KvStore _store;
    private readonly CountingEmbedder _embedder = new(new HashingEmbedder(64));
    private readonly CollectionContext _collection;
    private readonly Chunker _chunker;

    public IngestPipelineTests()
    {
        _index = EmbeddedChunkIndex.Open(Path.Combine(_folder, "index"));
        _store = new KvStore([new MemoryTier(64 << 20), new DiskTier(Path.Combine(_folder, "kv"))]);
        _collection = Collection(_embedder);
        _chunker = _collection.Chunker;
    }

    /// <summary>The collection "docs" in 48-token chunks, embedded by <paramref name="embedder"/>, over the same index and store.</summary>
    private CollectionContext Collection(IEmbedder embedder) =>
        new ChunkKvRuntime(_model, _store, KvCodec.Create(KvCodecId.F32), PromptLayout.Default, new RetrievalStores(_index, embedder))
            .Collection("docs", new CollectionSettings(ChunkTokens: 48));

    private CollectionContext Pipeline(IEmbedder? embedder = null) => embedder is null ? _collection : Collection(embedder);

    /// <summary>The key of a chunk's cache as queries look it up: its prompt form, after the collection's prefix.</summary>
    private ChunkCacheKey KeyOf(TextChunk chunk) => _collection.Caches.KeyOf(_collection.ChunkPromptTokens(chunk.Text));

    [Fact]
    public async Task A_document_is_chunked_indexed_and_every_chunk_cache_stored_with_progress()
    {
        var text = Corpus.Prose(paragraphs: 8, seed: 1);
        var progress = new ConcurrentQueue<IngestProgress>();

        var result = await Pipeline().IngestAsync(new DocumentInput("a", text), new SyncProgress(progress.Enqueue));

        var chunks = _chunker.Split(text);
        Assert.Equal((IngestOutcome.Ingested, chunks.Count, chunks.Count), (result.Outcome, result.Chunks, result.Embedded));
        Assert.Equal(chunks.Select(KeyOf).Distinct().Count(), result.CachesComputed);
        foreach (var chunk in chunks)
        {
            var stored = (await _store.GetAsync(KeyOf(chunk), _collection.Caches.Fingerprint))!.Kv;
            var expected = _collection.Caches.Compute(_collection.ChunkPromptTokens(chunk.Text));
            Assert.Equal(expected.Positions, stored.Positions);
            Assert.Equal(expected.Keys[^1], stored.Keys[^1]); // f32: bit for bit
            Assert.Equal(expected.Values[0], stored.Values[0]);
        }
        var hits = await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(chunks[3].Text), Limit: 1));
        Assert.Equal(3, hits[0].Ordinal);
        Assert.Equal(KeyOf(chunks[3]).ToBytes(), hits[0].CacheKey);
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
        await Pipeline().IngestAsync(document);
        var embeddedTexts = _embedder.Texts;
        var journal = _index.JournalBytes;

        var again = await Pipeline().IngestAsync(document);

        Assert.Equal((IngestOutcome.Unchanged, 0, 0), (again.Outcome, again.Embedded, again.CachesComputed));
        Assert.Equal(embeddedTexts, _embedder.Texts);
        Assert.Equal(journal, _index.JournalBytes);
    }

    [Fact]
    public async Task Identical_chunk_text_in_two_documents_shares_one_cache()
    {
        // Paragraphs of ~30 tokens: two never fit one 48-token chunk, so each is a chunk of its own.
        var shared = Corpus.Sentence(30, seed: 3);
        var first = await Pipeline().IngestAsync(new DocumentInput("a", Corpus.Sentence(30, seed: 4) + "\n\n" + shared));
        var second = await Pipeline().IngestAsync(new DocumentInput("b", shared + "\n\n" + Corpus.Sentence(30, seed: 5)));

        var sharedKeys = _chunker.Split(shared).Select(KeyOf).ToList();
        Assert.Single(sharedKeys);
        Assert.Equal((2, 2), (first.Chunks, first.CachesComputed));
        Assert.Equal((2, 1), (second.Chunks, second.CachesComputed));

        // Deleting one document keeps the caches the other still uses.
        Assert.True(await Pipeline().DeleteDocumentAsync("a"));
        Assert.All(sharedKeys, key => Assert.True(_store.ContainsAsync(key).Result));
        await Pipeline().DeleteDocumentAsync("b");
        Assert.All(sharedKeys, key => Assert.False(_store.ContainsAsync(key).Result));
    }

    [Fact]
    public async Task An_interrupted_ingestion_stays_invisible_and_resumes_where_it_stopped()
    {
        var document = new DocumentInput("a", Corpus.Prose(paragraphs: 10, seed: 6));
        var total = _chunker.Split(document.Text).Count;
        var failing = new CountingEmbedder(new HashingEmbedder(64), failAfterBatches: 2);

        // Four chunks a batch: two batches are indexed before the embedder goes away.
        await Assert.ThrowsAsync<EmbeddingException>(() => Pipeline(failing).IngestAsync(document, options: new IngestOptions { BatchSize = 4 }));

        Assert.Equal(DocumentStatus.Ingesting, (await _index.GetDocumentAsync("docs", "a"))!.Status);
        Assert.Empty(await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(document.Text))));
        var resumed = await Pipeline().IngestAsync(document);
        Assert.Equal((IngestOutcome.Resumed, total, total - 8), (resumed.Outcome, resumed.Chunks, resumed.Embedded));
        Assert.Equal(DocumentStatus.Ready, (await _index.GetDocumentAsync("docs", "a"))!.Status);
        Assert.NotEmpty(await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(document.Text))));
    }

    [Fact]
    public async Task Changed_content_replaces_the_document_and_drops_only_the_caches_no_longer_used()
    {
        var kept = Corpus.Sentence(30, seed: 7);
        var dropped = Corpus.Sentence(30, seed: 8);
        await Pipeline().IngestAsync(new DocumentInput("a", kept + "\n\n" + dropped));

        var replaced = await Pipeline().IngestAsync(new DocumentInput("a", kept + "\n\n" + Corpus.Sentence(30, seed: 9)));

        Assert.Equal(IngestOutcome.Replaced, replaced.Outcome);
        Assert.All(_chunker.Split(kept), c => Assert.True(_store.ContainsAsync(KeyOf(c)).Result));
        Assert.All(_chunker.Split(dropped), c => Assert.False(_store.ContainsAsync(KeyOf(c)).Result));
        var hits = await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(dropped), Limit: 50));
        Assert.DoesNotContain(hits, h => h.Content == dropped);
    }

    [Fact]
    public async Task Without_precompute_chunks_are_indexed_with_their_cache_keys_and_nothing_is_stored()
    {
        var text = Corpus.Prose(paragraphs: 3, seed: 10);
        var result = await Pipeline().IngestAsync(new DocumentInput("a", text), options: new IngestOptions { StoreCaches = false });

        Assert.Equal(0, result.CachesComputed);
        var first = _chunker.Split(text)[0];
        Assert.False(await _store.ContainsAsync(KeyOf(first)));
        var hit = (await _index.SearchAsync("docs", new SearchRequest(_embedder.Inner.Embed(first.Text), Limit: 1)))[0];
        Assert.Equal(KeyOf(first).ToBytes(), hit.CacheKey);
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
