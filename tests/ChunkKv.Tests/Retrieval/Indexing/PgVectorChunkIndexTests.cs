using ChunkKv.Retrieval.Indexing;
using ChunkKv.Retrieval.Migrations;
using ChunkKv.Testing;

namespace ChunkKv.Tests.Retrieval.Indexing;

/// <summary>The index contract on the real PostgreSQL + pgvector that the test script starts.</summary>
public sealed class PgVectorChunkIndexTests : ChunkIndexContract
{
    private TestDatabase? _db;

    protected override async Task<IChunkIndex> CreateAsync()
    {
        _db = await TestDatabase.CreateAsync();
        await new MigrationRunner(_db.DataSource).ApplyAsync();
        return new PgVectorChunkIndex(_db.DataSource);
    }

    public override async Task DisposeAsync() => await _db!.DisposeAsync();

    [Fact]
    public async Task A_dimension_beyond_what_hnsw_indexes_is_refused_up_front()
    {
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Index.EnsureCollectionAsync("big", "e", 4001));
        Assert.Contains("4000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_3072_dimension_collection_is_indexed_as_halfvec_and_scored_at_full_precision()
    {
        // text-embedding-3-large's size: more than HNSW indexes as vector (2000), within halfvec's 4000.
        const int large = 3072;
        await Index.EnsureCollectionAsync("large", "e", large);
        var random = new Random(4);
        var vectors = Enumerable.Range(0, 40).Select(_ =>
        {
            var v = Enumerable.Range(0, large).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), v);
            return v;
        }).ToArray();
        await AddReadyAsync("a", vectors, collection: "large");
        var query = vectors[17].Select((x, i) => x + (i % 7 == 0 ? 0.01f : 0f)).ToArray();

        var hits = await Index.SearchAsync("large", new SearchRequest(query, 3));

        Assert.Equal(17, hits[0].Ordinal);
        var exact = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(query, vectors[17]);
        Assert.Equal(exact, hits[0].Score, 1e-5); // halfvec only ranks the candidates; the score is the full-precision cosine
        var collectionId = await _db!.ScalarAsync<long>("SELECT id FROM collections WHERE name = 'large'");
        var definition = await _db.ScalarAsync<string>(
            $"SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw_{collectionId}'");
        Assert.Contains("halfvec(3072)", definition, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_collection_drops_its_hnsw_index_and_another_process_sees_it_gone()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var other = new PgVectorChunkIndex(_db!.DataSource); // a second server process on the same database
        Assert.NotNull(await other.GetCollectionAsync("docs"));
        var collectionId = await _db.ScalarAsync<long>("SELECT id FROM collections WHERE name = 'docs'");
        var indexes = $"SELECT count(*) FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw_{collectionId}'";
        Assert.Equal(1, await _db.ScalarAsync<long>(indexes));

        await Index.DeleteCollectionAsync("docs");
        await Index.EnsureCollectionAsync("docs", "e", Dimension); // a new collection of the same name

        Assert.Equal(0, await _db.ScalarAsync<long>(indexes));
        await other.BeginDocumentAsync("docs", "a", [1], []); // the other process writes to the new one
        Assert.Single(await Index.ListDocumentsAsync("docs", null, 10));
    }

    [Fact]
    public async Task Search_keeps_using_the_collection_hnsw_index_under_generic_plans_of_automatic_preparation()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var random = new Random(8);
        var vectors = Enumerable.Range(0, 300).Select(_ => RandomUnit(random)).ToArray();
        await AddReadyAsync("a", vectors);
        var collectionId = await _db!.ScalarAsync<long>("SELECT id FROM collections WHERE name = 'docs'");
        await _db.ExecuteAsync("ANALYZE chunks; ANALYZE documents");

        // The search as Npgsql's automatic preparation runs it: a server-side prepared statement,
        // executed more than five times, after which PostgreSQL may switch to a generic plan; force
        // that plan to see the worst case. (On 300 rows a scan is cheaper, so scans are forbidden.)
        var sql = PgVectorChunkIndex.VectorSql(Dimension, collectionId)
            .Replace("@filter", "$1", StringComparison.Ordinal).Replace("@q", "$2", StringComparison.Ordinal).Replace("@limit", "$3", StringComparison.Ordinal);
        var query = "[" + string.Join(",", vectors[42].Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]";
        var plan = await GenericPlanAsync(sql, $"'{{}}', '{query}'::vector, 5");
        Assert.Contains($"Index Scan using chunks_embedding_hnsw_{collectionId}", plan);

        // The same search with the collection as a parameter: the partial index's predicate cannot
        // be proved for a generic plan, which is why the id is a literal. This shows the test sees generic plans.
        var parameterized = sql.Replace($"c.collection_id = {collectionId}::bigint", "c.collection_id = $4::bigint", StringComparison.Ordinal);
        var parameterizedPlan = await GenericPlanAsync(parameterized, $"'{{}}', '{query}'::vector, 5, {collectionId}");
        Assert.DoesNotContain($"chunks_embedding_hnsw_{collectionId}", parameterizedPlan);

        // And the index itself, through a data source with automatic preparation on, stays right.
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(_db.ConnectionString) { MaxAutoPrepare = 20, AutoPrepareMinUsages = 2 };
        await using var prepared = PgVectorDataSource.Create(builder.ConnectionString);
        var index = new PgVectorChunkIndex(prepared);
        for (var run = 0; run < 8; run++)
        {
            var hits = await index.SearchAsync("docs", new SearchRequest(vectors[run], Limit: 1));
            Assert.Equal(run, hits[0].Ordinal);
        }
    }

    private async Task<string> GenericPlanAsync(string sql, string arguments)
    {
        await using var connection = await _db!.DataSource.OpenConnectionAsync();
        var statement = $"search_{Guid.NewGuid():N}";
        var plan = new List<string>();
        await using var batch = new Npgsql.NpgsqlCommand(
            $"SET enable_seqscan = off; SET enable_sort = off; SET plan_cache_mode = force_generic_plan; PREPARE {statement} AS {sql}", connection);
        await batch.ExecuteNonQueryAsync();
        for (var run = 0; run < 6; run++)
        {
            await using var execute = new Npgsql.NpgsqlCommand($"EXECUTE {statement}({arguments})", connection);
            await execute.ExecuteNonQueryAsync();
        }
        await using var explain = new Npgsql.NpgsqlCommand($"EXPLAIN EXECUTE {statement}({arguments})", connection);
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(0));
        }
        return string.Join("\n", plan);
    }
}
