using ChunkKv.Retrieval.Migrations;
using ChunkKv.Testing;
using Npgsql;

namespace ChunkKv.Tests.Retrieval;

/// <summary>The schema of the migrations on real PostgreSQL + pgvector: the per-collection HNSW index (over halfvec casts) answers nearest-neighbour queries.</summary>
public sealed class VectorSchemaTests : IAsyncLifetime
{
    private const int Dimension = 16;
    private TestDatabase _db = null!;

    public async Task InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync();
        await new MigrationRunner(_db.DataSource).ApplyAsync();
    }

    [Fact]
    public async Task Upgrading_a_database_from_before_0003_rebuilds_its_collections_indexes_as_halfvec()
    {
        await using var old = await TestDatabase.CreateAsync();
        await new MigrationRunner(old.DataSource, Migration.Embedded().Where(m => m.Version < 3).ToList()).ApplyAsync();
        await old.ExecuteAsync("INSERT INTO collections (name, embedder, embedding_dim) VALUES ('kept', 'e', 8)");
        var id = await old.ScalarAsync<long>("SELECT id FROM collections WHERE name = 'kept'");
        var definition = $"SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw_{id}'";
        Assert.Contains("vector(8)", await old.ScalarAsync<string>(definition), StringComparison.Ordinal);

        var report = await new MigrationRunner(old.DataSource).ApplyAsync();

        Assert.Equal(["0003_halfvec_index"], report.Applied);
        Assert.Contains("halfvec(8)", await old.ScalarAsync<string>(definition), StringComparison.Ordinal);
        await old.ExecuteAsync("INSERT INTO collections (name, embedder, embedding_dim) VALUES ('new', 'e', 3072)"); // allowed now
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Nearest_neighbour_query_goes_through_the_hnsw_index_and_returns_the_closest_chunk()
    {
        var collection = await CreateCollectionAsync("docs", Dimension);
        var document = await CreateDocumentAsync(collection);
        var random = new Random(7);
        var vectors = Enumerable.Range(0, 500).Select(_ => RandomUnitVector(random, Dimension)).ToArray();
        for (var i = 0; i < vectors.Length; i++)
        {
            await InsertChunkAsync(collection, document, i, vectors[i]);
        }
        await _db.ExecuteAsync("ANALYZE chunks");

        // A query a little off chunk 123 must find chunk 123: it is far closer than any other.
        var query = vectors[123].Select(v => v + 0.01f * (float)(random.NextDouble() - 0.5)).ToArray();
        var search = $"""
            SELECT ordinal FROM chunks WHERE collection_id = @collection
            ORDER BY embedding::halfvec({Dimension}) <=> @query::halfvec({Dimension}) LIMIT 3
            """;

        await using var connection = await _db.DataSource.OpenConnectionAsync();
        // On 500 rows, scanning the collection and sorting costs less than the HNSW index; forbid
        // those plans so that the index has to serve the query.
        await using (var noSeqScan = new NpgsqlCommand("SET enable_seqscan = off; SET enable_sort = off", connection))
        {
            await noSeqScan.ExecuteNonQueryAsync();
        }
        var plan = string.Join("\n", await ReadAllAsync<string>(connection, "EXPLAIN " + search, collection, query));
        var nearest = await ReadAllAsync<int>(connection, search, collection, query);

        Assert.Contains($"Index Scan using chunks_embedding_hnsw_{collection}", plan);
        Assert.Equal(123, nearest[0]);
        Assert.Equal(BruteForceNearest(vectors, query, 3), nearest);
    }

    [Fact]
    public async Task An_embedding_of_the_wrong_dimension_is_refused()
    {
        var collection = await CreateCollectionAsync("small", 4);
        var document = await CreateDocumentAsync(collection);

        var error = await Assert.ThrowsAsync<PostgresException>(() => InsertChunkAsync(collection, document, 0, [1, 2, 3]));

        Assert.Equal(PostgresErrorCodes.DataException, error.SqlState);
        Assert.Contains("expects 4", error.MessageText);
    }

    [Fact]
    public async Task Deleting_a_document_removes_its_chunks()
    {
        var collection = await CreateCollectionAsync("del", 2);
        var document = await CreateDocumentAsync(collection);
        await InsertChunkAsync(collection, document, 0, [1, 0]);

        await _db.ExecuteAsync($"DELETE FROM documents WHERE id = {document}");

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM chunks"));
    }

    private static int[] BruteForceNearest(float[][] vectors, float[] query, int k) =>
        vectors.Select((v, i) => (i, distance: 1 - Cosine(v, query))).OrderBy(p => p.distance).Take(k).Select(p => p.i).ToArray();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static float[] RandomUnitVector(Random random, int dimension)
    {
        var v = Enumerable.Range(0, dimension).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    private async Task<long> CreateCollectionAsync(string name, int dimension) =>
        await _db.ScalarAsync<long>($"INSERT INTO collections (name, embedder, embedding_dim) VALUES ('{name}', 'test', {dimension}) RETURNING id");

    private async Task<long> CreateDocumentAsync(long collection) =>
        await _db.ScalarAsync<long>($"INSERT INTO documents (collection_id, external_id, content_hash) VALUES ({collection}, 'doc', '\\x00') RETURNING id");

    private async Task InsertChunkAsync(long collection, long document, int ordinal, float[] embedding)
    {
        await using var command = _db.DataSource.CreateCommand("""
            INSERT INTO chunks (document_id, collection_id, ordinal, char_start, char_end, content, token_count, cache_key, embedding)
            VALUES (@document, @collection, @ordinal, 0, 4, 'text', 1, '\x00', @embedding)
            """);
        command.Parameters.AddWithValue("document", document);
        command.Parameters.AddWithValue("collection", collection);
        command.Parameters.AddWithValue("ordinal", ordinal);
        command.Parameters.AddWithValue("embedding", new Pgvector.Vector(embedding));
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<T>> ReadAllAsync<T>(NpgsqlConnection connection, string sql, long collection, float[] query)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("collection", collection);
        command.Parameters.AddWithValue("query", new Pgvector.Vector(query));
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetFieldValue<T>(0));
        }
        return rows;
    }
}
