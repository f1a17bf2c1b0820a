using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Tests.Retrieval.Indexing;

/// <summary>What every <see cref="IChunkIndex"/> provider must do; run against pgvector and the embedded index.</summary>
public abstract class ChunkIndexContract : IAsyncLifetime
{
    protected const int Dimension = 16;
    private IChunkIndex? _index;

    protected IChunkIndex Index => _index!;

    protected abstract Task<IChunkIndex> CreateAsync();

    public async Task InitializeAsync() => _index = await CreateAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_collection_keeps_its_embedder_and_dimension()
    {
        var created = await Index.EnsureCollectionAsync("docs", "hashing-v1:16", Dimension);
        var again = await Index.EnsureCollectionAsync("docs", "hashing-v1:16", Dimension);

        Assert.Equal(created, again);
        Assert.Equal(created, await Index.GetCollectionAsync("docs"));
        Assert.Null(await Index.GetCollectionAsync("nothing"));
        await Assert.ThrowsAsync<CollectionMismatchException>(() => Index.EnsureCollectionAsync("docs", "other", Dimension));
        await Assert.ThrowsAsync<CollectionMismatchException>(() => Index.EnsureCollectionAsync("docs", "hashing-v1:16", 8));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => Index.SearchAsync("nothing", new SearchRequest(Unit(0))));
    }

    [Fact]
    public async Task A_collection_keeps_the_settings_it_was_created_with()
    {
        var settings = new CollectionSettings("You answer from the notes.\n\n", 64);
        var created = await Index.EnsureCollectionAsync("tuned", "e", Dimension, settings);
        await Index.EnsureCollectionAsync("plain", "e", Dimension);

        Assert.Equal(settings, created.Settings);
        Assert.Equal(settings, (await Index.GetCollectionAsync("tuned"))!.Settings);
        Assert.Equal(CollectionSettings.None, (await Index.GetCollectionAsync("plain"))!.Settings);
        Assert.Equal(settings, (await Index.ListCollectionsAsync()).Single(c => c.Name == "tuned").Settings);
        Assert.Equal(settings, (await Index.EnsureCollectionAsync("tuned", "e", Dimension)).Settings); // none asked: as it is
        await Assert.ThrowsAsync<CollectionMismatchException>(() => Index.EnsureCollectionAsync("tuned", "e", Dimension, settings with { ChunkTokens = 65 }));
        await Assert.ThrowsAsync<CollectionMismatchException>(() => Index.EnsureCollectionAsync("plain", "e", Dimension, settings));
    }

    [Fact]
    public async Task Collections_are_listed_by_name()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var names = new[] { $"b-{suffix}", $"a-{suffix}", $"B-{suffix}" };
        foreach (var name in names)
        {
            await Index.EnsureCollectionAsync(name, "hashing-v1:16", Dimension);
        }

        var listed = (await Index.ListCollectionsAsync()).Where(c => c.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();

        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Select(c => c.Name));
        Assert.All(listed, c => Assert.Equal((("hashing-v1:16", Dimension)), (c.Embedder, c.Dimension)));
    }

    [Fact]
    public async Task Chunks_are_fetched_by_document_and_ordinal_in_order_once_the_document_is_ready()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.BeginDocumentAsync("docs", "a", [1], []);
        await Index.AddChunksAsync("docs", "a", [Chunk(0, Unit(0)), Chunk(1, Unit(1)), Chunk(2, Unit(2)), Chunk(3, Unit(3))]);

        Assert.Empty(await Index.GetChunksAsync("docs", "a", [1, 2])); // still being ingested: not there yet
        await Index.MarkReadyAsync("docs", "a", 4);

        var chunks = await Index.GetChunksAsync("docs", "a", [3, 1, 7, -1]);
        Assert.Equal([1, 3], chunks.Select(c => c.Ordinal));
        Assert.All(chunks, c => Assert.Equal(("a", 0.0), (c.DocumentId, c.Score)));
        Assert.Equal("chunk 3", chunks[1].Content);
        Assert.Empty(await Index.GetChunksAsync("docs", "nobody", [0]));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => Index.GetChunksAsync("nothing", "a", [0]));
    }

    [Fact]
    public async Task A_document_is_searchable_only_once_ready_and_its_chunks_are_added_once()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.BeginDocumentAsync("docs", "a", [1, 2], new JsonObject { ["lang"] = "en" });
        await Index.AddChunksAsync("docs", "a", [Chunk(0, Unit(0)), Chunk(1, Unit(1))]);
        await Index.AddChunksAsync("docs", "a", [Chunk(1, Unit(5)), Chunk(2, Unit(2))]); // ordinal 1 again: ignored

        Assert.Empty(await Index.SearchAsync("docs", new SearchRequest(Unit(0))));
        Assert.Equal(DocumentStatus.Ingesting, (await Index.GetDocumentAsync("docs", "a"))!.Status);
        Assert.Equal(new HashSet<int> { 0, 1, 2 }, await Index.IndexedOrdinalsAsync("docs", "a"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Index.MarkReadyAsync("docs", "a", 4));

        await Index.MarkReadyAsync("docs", "a", 3);

        var document = (await Index.GetDocumentAsync("docs", "a"))!;
        Assert.Equal((DocumentStatus.Ready, 3, "en"), (document.Status, document.ChunkCount, document.Metadata["lang"]!.GetValue<string>()));
        Assert.Equal([1, 2], document.ContentHash);
        var hits = await Index.SearchAsync("docs", new SearchRequest(Unit(1), Limit: 3));
        Assert.Equal(1, hits[0].Ordinal); // the first write of ordinal 1 stands
        Assert.Equal(1.0, hits[0].Score, 1e-5);
        Assert.Equal(("a", "chunk 1", 10, 17, 7), (hits[0].DocumentId, hits[0].Content, hits[0].CharStart, hits[0].CharEnd, hits[0].TokenCount));
        Assert.Equal(Key(1), hits[0].CacheKey);
        Assert.Equal("en", hits[0].Metadata["lang"]!.GetValue<string>());
    }

    [Fact]
    public async Task Beginning_again_with_the_same_content_resumes_and_with_other_content_is_refused()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.BeginDocumentAsync("docs", "a", [1], []);
        await Index.AddChunksAsync("docs", "a", [Chunk(0, Unit(0))]);

        await Index.BeginDocumentAsync("docs", "a", [1], []);

        Assert.Equal(new HashSet<int> { 0 }, await Index.IndexedOrdinalsAsync("docs", "a"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Index.BeginDocumentAsync("docs", "a", [2], []));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Index.AddChunksAsync("docs", "never-begun", [Chunk(0, Unit(0))]));
    }

    [Fact]
    public async Task Vector_search_ranks_by_cosine_like_a_brute_force_scan()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var random = new Random(11);
        var vectors = Enumerable.Range(0, 300).Select(_ => RandomUnit(random)).ToArray();
        await AddReadyAsync("d", vectors);
        var query = RandomUnit(random);

        var hits = await Index.SearchAsync("docs", new SearchRequest(query, Limit: 10));

        var expected = Enumerable.Range(0, vectors.Length).OrderByDescending(i => TensorPrimitives.Dot(vectors[i], query)).Take(10).ToList();
        Assert.Equal(10, hits.Count);
        Assert.Equal(expected[0], hits[0].Ordinal);
        Assert.True(hits.Count(h => expected.Contains(h.Ordinal)) >= 9, "recall@10 against the exact scan");
        Assert.All(hits, h => Assert.Equal(TensorPrimitives.Dot(vectors[h.Ordinal], query), h.Score, 1e-5));
        Assert.Equal(hits.OrderByDescending(h => h.Score).Select(h => h.Ordinal), hits.Select(h => h.Ordinal));
    }

    [Fact]
    public async Task A_metadata_filter_keeps_only_matching_documents_even_when_they_are_far()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var random = new Random(12);
        for (var d = 0; d < 20; d++)
        {
            var metadata = new JsonObject { ["team"] = d == 13 ? "red" : "blue", ["year"] = 2020 + d % 3, ["draft"] = false };
            await AddReadyAsync($"doc{d}", Enumerable.Range(0, 10).Select(_ => RandomUnit(random)).ToArray(), metadata);
        }

        var red = await Index.SearchAsync("docs", new SearchRequest(RandomUnit(random), Limit: 5, Filter: new JsonObject { ["team"] = "red" }));
        var blue2021 = await Index.SearchAsync("docs",
            new SearchRequest(RandomUnit(random), Limit: 50, Filter: new JsonObject { ["team"] = "blue", ["year"] = 2021, ["draft"] = false }));

        Assert.Equal(5, red.Count);
        Assert.All(red, h => Assert.Equal("doc13", h.DocumentId));
        Assert.Equal(50, blue2021.Count);
        Assert.All(blue2021, h => Assert.Equal(2021, h.Metadata["year"]!.GetValue<int>()));
        Assert.Empty(await Index.SearchAsync("docs", new SearchRequest(Unit(0), Filter: new JsonObject { ["team"] = "green" })));
    }

    [Fact]
    public async Task Hybrid_search_finds_an_exact_rare_word_that_the_vectors_miss()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var random = new Random(13);
        var chunks = Enumerable.Range(0, 60).Select(i => Chunk(i, RandomUnit(random),
            i == 42 ? "Invoice QX-7781 was paid by Zorvania Shipping" : $"ordinary text about shipping number {i}")).ToList();
        await Index.BeginDocumentAsync("docs", "d", [1], []);
        await Index.AddChunksAsync("docs", "d", chunks);
        await Index.MarkReadyAsync("docs", "d", chunks.Count);
        var query = chunks[7].Embedding; // the vectors point at chunk 7

        var vectorOnly = await Index.SearchAsync("docs", new SearchRequest(query, Limit: 5));
        var hybrid = await Index.SearchAsync("docs", new SearchRequest(query, Limit: 5, SearchMode.Hybrid, "who paid invoice QX-7781?"));

        Assert.DoesNotContain(vectorOnly, h => h.Ordinal == 42);
        Assert.Contains(hybrid, h => h.Ordinal == 42);
        Assert.Contains(hybrid, h => h.Ordinal == 7);
        Assert.Equal(hybrid.OrderByDescending(h => h.Score).Select(h => h.Ordinal), hybrid.Select(h => h.Ordinal));
        Assert.All(hybrid, h => Assert.InRange(h.Score, 1.0 / 70, 2.0 / 61)); // reciprocal-rank scores
    }

    [Fact]
    public async Task Deleting_a_document_removes_its_chunks_and_orphans_only_cache_keys_no_other_chunk_uses()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.EnsureCollectionAsync("other", "e", Dimension);
        await AddReadyAsync("a", [Unit(0), Unit(1), Unit(2)]);              // keys 0, 1, 2
        await AddReadyAsync("b", [Unit(3)], keys: [Key(1)]);                // shares key 1 in the same collection
        await AddReadyAsync("c", [Unit(4)], keys: [Key(2)], collection: "other"); // and key 2 in another

        var deleted = await Index.DeleteDocumentAsync("docs", "a");

        Assert.True(deleted.Found);
        Assert.Equal([Key(0)], deleted.OrphanedCacheKeys);
        Assert.Null(await Index.GetDocumentAsync("docs", "a"));
        Assert.All(await Index.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 10)), h => Assert.Equal("b", h.DocumentId));
        Assert.False((await Index.DeleteDocumentAsync("docs", "a")).Found);
        Assert.Equal([Key(1)], (await Index.DeleteDocumentAsync("docs", "b")).OrphanedCacheKeys);
    }

    [Fact]
    public async Task Documents_are_listed_in_pages_by_id_ready_or_not()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.EnsureCollectionAsync("other", "e", Dimension);
        foreach (var id in new[] { "b", "a", "B", "c-2", "c-10" })
        {
            await AddReadyAsync(id, [Unit(0), Unit(1)], new() { ["id"] = id });
        }
        await Index.BeginDocumentAsync("docs", "d", [4], []);
        await AddReadyAsync("elsewhere", [Unit(2)], collection: "other");

        var pages = new List<IReadOnlyList<DocumentInfo>>();
        string? after = null;
        do
        {
            pages.Add(await Index.ListDocumentsAsync("docs", after, limit: 2));
            after = pages[^1].Count == 2 ? pages[^1][^1].ExternalId : null;
        }
        while (after is not null);

        Assert.Equal(["B", "a", "b", "c-10", "c-2", "d"], pages.SelectMany(p => p).Select(d => d.ExternalId));
        Assert.Equal([2, 2, 2, 0], pages.Select(p => p.Count));
        var b = pages[0][0];
        Assert.Equal((DocumentStatus.Ready, 2, "B"), (b.Status, b.ChunkCount, b.Metadata["id"]!.GetValue<string>()));
        Assert.Equal(DocumentStatus.Ingesting, pages[2][1].Status);
        Assert.Equal(["c-2", "d"], (await Index.ListDocumentsAsync("docs", "c-10", 10)).Select(d => d.ExternalId));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => Index.ListDocumentsAsync("nothing", null, 10));
    }

    [Fact]
    public async Task Deleting_a_collection_removes_everything_in_it_and_orphans_only_keys_no_other_collection_uses()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.EnsureCollectionAsync("other", "e", Dimension);
        await AddReadyAsync("a", [Unit(0), Unit(1)]);                      // keys 0, 1
        await AddReadyAsync("b", [Unit(2)], keys: [Key(1)]);                // key 1 again, same collection
        await Index.BeginDocumentAsync("docs", "half", [4], []);            // still ingesting
        await Index.AddChunksAsync("docs", "half", [Chunk(0, Unit(3)) with { CacheKey = Key(5) }]);
        await AddReadyAsync("c", [Unit(4)], keys: [Key(0)], collection: "other"); // key 0 in another collection

        var deleted = await Index.DeleteCollectionAsync("docs");

        Assert.True(deleted.Found);
        Assert.Equal([Convert.ToHexString(Key(1)), Convert.ToHexString(Key(5))],
            deleted.OrphanedCacheKeys.Select(Convert.ToHexString).Order(StringComparer.Ordinal));
        Assert.Null(await Index.GetCollectionAsync("docs"));
        Assert.DoesNotContain("docs", (await Index.ListCollectionsAsync()).Select(c => c.Name));
        Assert.True(await Index.IsCacheKeyReferencedAsync(Key(0)));
        Assert.False(await Index.IsCacheKeyReferencedAsync(Key(1)));
        Assert.Single(await Index.SearchAsync("other", new SearchRequest(Unit(4))));
        Assert.False((await Index.DeleteCollectionAsync("docs")).Found);

        // The name can be used again, from nothing.
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        Assert.Empty(await Index.ListDocumentsAsync("docs", null, 10));
        await AddReadyAsync("a", [Unit(5)]);
        Assert.Equal("a", Assert.Single(await Index.SearchAsync("docs", new SearchRequest(Unit(5)))).DocumentId);
    }

    [Fact]
    public async Task A_cache_key_lock_excludes_a_second_holder_until_released_and_references_are_seen_in_any_state()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.BeginDocumentAsync("docs", "a", [1], []);
        await Index.AddChunksAsync("docs", "a", [Chunk(0, Unit(0))]); // not ready yet: still a reference
        Assert.True(await Index.IsCacheKeyReferencedAsync(Key(0)));
        Assert.False(await Index.IsCacheKeyReferencedAsync(Key(5)));

        var first = await Index.LockCacheKeyAsync(Key(0));
        var second = Index.LockCacheKeyAsync(Key(0));
        Assert.NotSame(second, await Task.WhenAny(second, Task.Delay(300)));
        await first.DisposeAsync();
        await using (await second.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            await Index.DeleteDocumentAsync("docs", "a");
        }
        Assert.False(await Index.IsCacheKeyReferencedAsync(Key(0)));
        await using var again = await Index.LockCacheKeyAsync(Key(0)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Bad_vectors_and_requests_are_refused_with_a_clear_message()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.BeginDocumentAsync("docs", "a", [1], []);

        var wrongChunk = await Assert.ThrowsAsync<ArgumentException>(() => Index.AddChunksAsync("docs", "a", [Chunk(0, new float[3])]));
        var wrongQuery = await Assert.ThrowsAsync<ArgumentException>(() => Index.SearchAsync("docs", new SearchRequest(new float[3])));
        var zero = await Assert.ThrowsAsync<ArgumentException>(() => Index.SearchAsync("docs", new SearchRequest(new float[Dimension])));
        var limit = await Assert.ThrowsAsync<ArgumentException>(() => Index.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 0)));
        var noText = await Assert.ThrowsAsync<ArgumentException>(() => Index.SearchAsync("docs", new SearchRequest(Unit(0), Mode: SearchMode.Hybrid)));
        var filter = await Assert.ThrowsAsync<ArgumentException>(() =>
            Index.SearchAsync("docs", new SearchRequest(Unit(0), Filter: new JsonObject { ["tags"] = new JsonArray("x") })));

        Assert.Contains("chunk 0's embedding has 3 dimensions; collection 'docs' holds 16", wrongChunk.Message, StringComparison.Ordinal);
        Assert.Contains("query vector has 3 dimensions", wrongQuery.Message, StringComparison.Ordinal);
        Assert.Contains("zero", zero.Message, StringComparison.Ordinal);
        Assert.Contains("limit", limit.Message, StringComparison.Ordinal);
        Assert.Contains("text", noText.Message, StringComparison.Ordinal);
        Assert.Contains("filter 'tags'", filter.Message, StringComparison.Ordinal);
    }

    protected async Task AddReadyAsync(string id, float[][] vectors, JsonObject? metadata = null, byte[][]? keys = null,
        string collection = "docs")
    {
        await Index.BeginDocumentAsync(collection, id, [9], metadata ?? []);
        await Index.AddChunksAsync(collection, id, vectors.Select((v, i) => Chunk(i, v) with { CacheKey = keys?[i] ?? Key(i) }).ToList());
        await Index.MarkReadyAsync(collection, id, vectors.Length);
    }

    protected static IndexedChunk Chunk(int ordinal, float[] embedding, string? content = null) =>
        new(ordinal, ordinal * 10, ordinal * 10 + 7, content ?? $"chunk {ordinal}", 7, Key(ordinal), embedding);

    protected static byte[] Key(int i) => [.. Enumerable.Repeat((byte)i, 32)];

    protected static float[] Unit(int axis)
    {
        var vector = new float[Dimension];
        vector[axis] = 1;
        return vector;
    }

    protected static float[] RandomUnit(Random random)
    {
        var vector = Enumerable.Range(0, Dimension).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), vector);
        return vector;
    }
}
