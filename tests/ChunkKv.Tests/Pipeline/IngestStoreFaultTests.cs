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

/// <summary>Ingestion never reports a cache it did not store, and a deletion never removes a cache another document just took up.</summary>
public sealed class IngestStoreFaultTests : IDisposable
{
    private readonly LanguageModel _model = ModelFixtures.TinyQwen3();
    private readonly string _folder = Fixtures.TempDirectory("ingest-faults");
    private readonly EmbeddedChunkIndex _index;
    private readonly ControlledTier _tier = new(new MemoryTier(64 << 20));
    private readonly KvStore _store;
    private readonly CollectionContext _collection;
    private readonly Chunker _chunker;

    public IngestStoreFaultTests()
    {
        _index = EmbeddedChunkIndex.Open(Path.Combine(_folder, "index"));
        _store = new KvStore([_tier], new KvStoreOptions { BypassAfterFault = TimeSpan.FromMilliseconds(20), MaxBypass = TimeSpan.FromMilliseconds(20) });
        _collection = new ChunkKvRuntime(_model, _store, KvCodec.Create(KvCodecId.F16), PromptLayout.Default,
            new RetrievalStores(_index, new HashingEmbedder(64))).Collection("docs", new CollectionSettings(ChunkTokens: 48));
        _chunker = _collection.Chunker;
    }

    private CollectionContext Pipeline() => _collection;

    private ChunkCacheKey KeyOf(TextChunk chunk) => _collection.Caches.KeyOf(_collection.ChunkPromptTokens(chunk.Text));

    [Fact]
    public async Task A_cache_that_reaches_no_tier_leaves_the_document_unfinished_and_the_next_ingest_stores_it()
    {
        var document = new DocumentInput("a", Corpus.Prose(paragraphs: 3, seed: 1));
        _tier.FailWrites = true;

        await Assert.ThrowsAsync<KvStoreWriteException>(() => Pipeline().IngestAsync(document));
        Assert.Equal(DocumentStatus.Ingesting, (await _index.GetDocumentAsync("docs", "a"))!.Status);

        _tier.FailWrites = false;
        await Task.Delay(50); // the tier's bypass after its fault runs out
        var resumed = await Pipeline().IngestAsync(document);

        Assert.Equal(IngestOutcome.Resumed, resumed.Outcome);
        Assert.Equal(DocumentStatus.Ready, (await _index.GetDocumentAsync("docs", "a"))!.Status);
        foreach (var chunk in _chunker.Split(document.Text))
        {
            Assert.True(await _store.ContainsAsync(KeyOf(chunk)));
        }
    }

    [Fact]
    public async Task Deleting_the_last_user_of_a_cache_while_another_document_takes_it_up_never_loses_it()
    {
        var shared = Corpus.Sentence(30, seed: 2);
        var key = KeyOf(_chunker.Split(shared).Single());
        await Pipeline().IngestAsync(new DocumentInput("a", shared));

        // The delete has listed the key as orphaned and is removing it; hold it there.
        _tier.HoldRemovals();
        var deleting = Pipeline().DeleteDocumentAsync("a");
        await _tier.RemovalStarted.WaitAsync(TimeSpan.FromSeconds(30));

        // Another document with the same chunk arrives meanwhile. Without the key's lock it finds
        // the cache still stored, skips it, and the removal then takes it from under it.
        var ingesting = Pipeline().IngestAsync(new DocumentInput("b", shared));
        await Task.WhenAny(ingesting, Task.Delay(500));
        _tier.ReleaseRemovals();
        await deleting;
        await ingesting;

        Assert.Equal(DocumentStatus.Ready, (await _index.GetDocumentAsync("docs", "b"))!.Status);
        Assert.True(await _store.ContainsAsync(key), "the cache document b uses was removed");
        Assert.NotNull(await _store.GetAsync(key, _collection.Caches.Fingerprint));
    }

    public void Dispose()
    {
        _index.Dispose();
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>A tier whose writes can be made to fail and whose removals can be held at a gate.</summary>
    private sealed class ControlledTier(IKvTier inner) : IKvTier
    {
        private readonly TaskCompletionSource _removalStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _gate;

        public bool FailWrites { get; set; }
        public Task RemovalStarted => _removalStarted.Task;
        public string Name => "controlled";

        public void HoldRemovals() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void ReleaseRemovals() => _gate?.TrySetResult();

        public Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

        public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken) =>
            FailWrites ? throw new IOException("no space left on device") : inner.PutAsync(key, entry, cancellationToken);

        public async Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken)
        {
            _removalStarted.TrySetResult();
            if (_gate is { } gate)
            {
                await gate.Task;
            }
            await inner.RemoveAsync(key, cancellationToken);
        }

        public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => inner.ContainsAsync(key, cancellationToken);
    }
}
