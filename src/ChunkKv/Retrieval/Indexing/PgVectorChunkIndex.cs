using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// The PostgreSQL + pgvector provider over the schema of migrations/. Embeddings travel as
/// <c>Pgvector.Vector</c> parameters, so the data source must map pgvector's types
/// (<see cref="PgVectorDataSource.Create"/>); they are stored at full precision, and the
/// collection's partial HNSW index is built on <c>embedding::halfvec(dim)</c> (migration 0003: half
/// the size, up to 4000 dimensions). Similarity search uses that index with
/// pgvector 0.8's iterative scan, so a metadata filter or documents still ingesting never leave
/// a query short of results; hybrid search adds PostgreSQL full-text ranking and fuses both by
/// reciprocal rank.
/// </summary>
public sealed class PgVectorChunkIndex(NpgsqlDataSource dataSource) : IChunkIndex
{
    public string Provider => "pgvector";

    /// <summary>The most dimensions pgvector's HNSW indexes as <c>halfvec</c> (migration 0003).</summary>
    public const int MaxDimension = 4000;

    public async Task<CollectionInfo> EnsureCollectionAsync(string name, string embedder, int dimension, CollectionSettings? settings = null,
        CancellationToken cancellationToken = default)
    {
        if (dimension is < 1 or > MaxDimension)
        {
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension,
                $"pgvector's HNSW index takes 1 to {MaxDimension} dimensions (as halfvec); use the embedded index or a smaller embedder");
        }
        await using (var insert = dataSource.CreateCommand(
            "INSERT INTO collections (name, embedder, embedding_dim, settings) VALUES (@name, @embedder, @dim, @settings::jsonb) ON CONFLICT (name) DO NOTHING"))
        {
            insert.Parameters.AddWithValue("settings", (settings ?? CollectionSettings.None).ToJson());
            insert.Parameters.AddWithValue("name", name);
            insert.Parameters.AddWithValue("embedder", embedder);
            insert.Parameters.AddWithValue("dim", dimension);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        var (_, info) = await CollectionAsync(name, cancellationToken);
        if (info.Embedder != embedder || info.Dimension != dimension)
        {
            throw new CollectionMismatchException(
                $"collection '{name}' holds {info.Dimension}-dimensional vectors of '{info.Embedder}', not {dimension} of '{embedder}'");
        }
        info.CheckSettings(settings);
        return info;
    }

    public async Task<CollectionInfo?> GetCollectionAsync(string name, CancellationToken cancellationToken = default) =>
        (await FindCollectionAsync(name, cancellationToken))?.Info;

    public async Task<IReadOnlyList<CollectionInfo>> ListCollectionsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT name, embedder, embedding_dim, settings::text FROM collections ORDER BY name COLLATE \"C\"");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var collections = new List<CollectionInfo>();
        while (await reader.ReadAsync(cancellationToken))
        {
            collections.Add(new CollectionInfo(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), CollectionSettings.FromJson(reader.GetString(3))));
        }
        return collections;
    }

    public async Task<DeleteResult> DeleteCollectionAsync(string name, CancellationToken cancellationToken = default)
    {
        if (await FindCollectionAsync(name, cancellationToken) is not { } found)
        {
            return new DeleteResult(false, []);
        }
        // The statement sees the chunks as they were before it: the collection's keys, and whether
        // a chunk of another collection also uses each. Its chunks and documents go by cascade.
        var deleted = await ReadDeletionAsync("""
            WITH gone AS (
                DELETE FROM collections WHERE id = @c RETURNING id
            ), keys AS (
                SELECT DISTINCT cache_key FROM chunks WHERE collection_id IN (SELECT id FROM gone)
            )
            SELECT (SELECT count(*) FROM gone), k.cache_key FROM (SELECT 1) one LEFT JOIN keys k
                ON NOT EXISTS (SELECT 1 FROM chunks o WHERE o.cache_key = k.cache_key AND o.collection_id NOT IN (SELECT id FROM gone))
            """, found.Id, null, cancellationToken);
        // The collection's partial HNSW index (made by the insert trigger) indexes nothing now.
        var indexName = "chunks_embedding_hnsw_" + found.Id.ToString(CultureInfo.InvariantCulture);
        await using var drop = dataSource.CreateCommand($"DROP INDEX IF EXISTS \"{indexName}\"");
        await drop.ExecuteNonQueryAsync(cancellationToken);
        return deleted;
    }

    public async Task<IReadOnlyList<DocumentInfo>> ListDocumentsAsync(string collection, string? after, int limit,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var (id, _) = await CollectionAsync(collection, cancellationToken);
        await using var command = dataSource.CreateCommand("""
            SELECT external_id, content_hash, metadata::text, status, chunk_count FROM documents
            WHERE collection_id = @c AND (@after::text IS NULL OR external_id COLLATE "C" > @after::text)
            ORDER BY external_id COLLATE "C" LIMIT @n
            """);
        command.Parameters.AddWithValue("c", id);
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("n", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var documents = new List<DocumentInfo>();
        while (await reader.ReadAsync(cancellationToken))
        {
            documents.Add(Document(reader.GetString(0), reader, 1));
        }
        return documents;
    }

    public async Task<DocumentInfo?> GetDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default)
    {
        var (id, _) = await CollectionAsync(collection, cancellationToken);
        await using var command = dataSource.CreateCommand(
            "SELECT content_hash, metadata::text, status, chunk_count FROM documents WHERE collection_id = @c AND external_id = @d");
        command.Parameters.AddWithValue("c", id);
        command.Parameters.AddWithValue("d", externalId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Document(externalId, reader, 0) : null;
    }

    /// <summary>A document from the columns content_hash, metadata, status, chunk_count starting at <paramref name="first"/>.</summary>
    private static DocumentInfo Document(string externalId, NpgsqlDataReader reader, int first) =>
        new(externalId, (byte[])reader[first], JsonMetadata(reader.GetString(first + 1)),
            reader.GetString(first + 2) == "ready" ? DocumentStatus.Ready : DocumentStatus.Ingesting, reader.GetInt32(first + 3));

    public async Task BeginDocumentAsync(string collection, string externalId, byte[] contentHash, JsonObject metadata,
        CancellationToken cancellationToken = default)
    {
        var (id, _) = await CollectionAsync(collection, cancellationToken);
        await using var command = dataSource.CreateCommand("""
            INSERT INTO documents (collection_id, external_id, content_hash, metadata) VALUES (@c, @d, @hash, @meta)
            ON CONFLICT (collection_id, external_id) DO NOTHING;
            SELECT content_hash FROM documents WHERE collection_id = @c AND external_id = @d;
            """);
        command.Parameters.AddWithValue("c", id);
        command.Parameters.AddWithValue("d", externalId);
        command.Parameters.AddWithValue("hash", contentHash);
        command.Parameters.AddWithValue("meta", NpgsqlDbType.Jsonb, metadata.ToJsonString());
        var stored = (byte[])(await command.ExecuteScalarAsync(cancellationToken))!;
        if (!stored.AsSpan().SequenceEqual(contentHash))
        {
            throw new InvalidOperationException($"document '{externalId}' is already in '{collection}' with other content; delete it first");
        }
    }

    public async Task AddChunksAsync(string collection, string externalId, IReadOnlyList<IndexedChunk> chunks,
        CancellationToken cancellationToken = default)
    {
        var (collectionId, info) = await CollectionAsync(collection, cancellationToken);
        var documentId = await DocumentIdAsync(collectionId, collection, externalId, cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var chunk in chunks)
        {
            info.CheckDimension(chunk.Embedding, $"chunk {chunk.Ordinal}'s embedding");
            var command = new NpgsqlBatchCommand($"""
                INSERT INTO chunks (document_id, collection_id, ordinal, char_start, char_end, content, token_count, cache_key, embedding)
                VALUES (@doc, @c, @ordinal, @start, @end, @content, @tokens, @key, @embedding::vector({info.Dimension}))
                ON CONFLICT (document_id, ordinal) DO NOTHING
                """);
            command.Parameters.AddWithValue("doc", documentId);
            command.Parameters.AddWithValue("c", collectionId);
            command.Parameters.AddWithValue("ordinal", chunk.Ordinal);
            command.Parameters.AddWithValue("start", chunk.CharStart);
            command.Parameters.AddWithValue("end", chunk.CharEnd);
            command.Parameters.AddWithValue("content", chunk.Content);
            command.Parameters.AddWithValue("tokens", chunk.TokenCount);
            command.Parameters.AddWithValue("key", chunk.CacheKey);
            command.Parameters.AddWithValue("embedding", new Vector(chunk.Embedding));
            batch.BatchCommands.Add(command);
        }
        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public async Task<IReadOnlySet<int>> IndexedOrdinalsAsync(string collection, string externalId, CancellationToken cancellationToken = default)
    {
        var (collectionId, _) = await CollectionAsync(collection, cancellationToken);
        var documentId = await DocumentIdAsync(collectionId, collection, externalId, cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT ordinal FROM chunks WHERE document_id = @doc");
        command.Parameters.AddWithValue("doc", documentId);
        var ordinals = new HashSet<int>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ordinals.Add(reader.GetInt32(0));
        }
        return ordinals;
    }

    public async Task MarkReadyAsync(string collection, string externalId, int chunkCount, CancellationToken cancellationToken = default)
    {
        var (collectionId, _) = await CollectionAsync(collection, cancellationToken);
        await using var command = dataSource.CreateCommand("""
            UPDATE documents d SET status = 'ready', chunk_count = @n, updated_at = now()
            WHERE collection_id = @c AND external_id = @d AND (SELECT count(*) FROM chunks WHERE document_id = d.id) = @n
            """);
        command.Parameters.AddWithValue("c", collectionId);
        command.Parameters.AddWithValue("d", externalId);
        command.Parameters.AddWithValue("n", chunkCount);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException(
                $"document '{externalId}' in '{collection}' does not exist or does not hold {chunkCount} chunks; it stays invisible");
        }
    }

    public async Task<DeleteResult> DeleteDocumentAsync(string collection, string externalId, CancellationToken cancellationToken = default)
    {
        var (collectionId, _) = await CollectionAsync(collection, cancellationToken);
        return await ReadDeletionAsync("""
            WITH gone AS (
                DELETE FROM documents WHERE collection_id = @c AND external_id = @d RETURNING id
            ), keys AS (
                SELECT DISTINCT cache_key FROM chunks WHERE document_id IN (SELECT id FROM gone)
            )
            SELECT (SELECT count(*) FROM gone), k.cache_key FROM (SELECT 1) one LEFT JOIN keys k
                ON NOT EXISTS (SELECT 1 FROM chunks o WHERE o.cache_key = k.cache_key AND o.document_id NOT IN (SELECT id FROM gone))
            """, collectionId, externalId, cancellationToken);
    }

    /// <summary>Runs a deletion whose rows are (rows deleted, an orphaned cache key or null).</summary>
    private async Task<DeleteResult> ReadDeletionAsync(string sql, long collectionId, string? externalId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("c", collectionId);
        if (externalId is not null)
        {
            command.Parameters.AddWithValue("d", externalId);
        }
        var found = false;
        var orphaned = new List<byte[]>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found = reader.GetInt64(0) > 0;
            if (!reader.IsDBNull(1))
            {
                orphaned.Add((byte[])reader[1]);
            }
        }
        return new DeleteResult(found, orphaned);
    }

    public async Task<bool> IsCacheKeyReferencedAsync(byte[] cacheKey, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM chunks WHERE cache_key = @k)");
        command.Parameters.AddWithValue("k", cacheKey);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// A session advisory lock (pg_advisory_lock) on a connection of its own, so every server
    /// process sharing this database is excluded; PostgreSQL drops it if the connection dies, and
    /// Npgsql's reset on returning a connection to the pool (DISCARD ALL) drops it as well.
    /// </summary>
    public async Task<IAsyncDisposable> LockCacheKeyAsync(byte[] cacheKey, CancellationToken cancellationToken = default)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_lock(@space, @key)", connection);
            command.Parameters.AddWithValue("space", CacheKeyLockSpace);
            command.Parameters.AddWithValue("key", unchecked((int)CacheKeyLocks.Hash(cacheKey)));
            await command.ExecuteNonQueryAsync(cancellationToken);
            return new AdvisoryLock(connection, unchecked((int)CacheKeyLocks.Hash(cacheKey)));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>The first half of the two-key advisory lock: "ckv1", so no other user of the database collides.</summary>
    private const int CacheKeyLockSpace = 0x636b7631;

    private sealed class AdvisoryLock(NpgsqlConnection connection, int key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock(@space, @key)", connection);
                command.Parameters.AddWithValue("space", CacheKeyLockSpace);
                command.Parameters.AddWithValue("key", key);
                await command.ExecuteNonQueryAsync();
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string collection, SearchRequest request, CancellationToken cancellationToken = default)
    {
        var (collectionId, info) = await CollectionAsync(collection, cancellationToken);
        request.Validate(info);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Iterative scan: HNSW keeps searching until enough rows pass the filters (pgvector 0.8);
        // relaxed order is fine because the ranking is re-sorted below.
        await using (var settings = new NpgsqlCommand(
            $"SET LOCAL hnsw.ef_search = {Math.Max(40, request.CandidatePool)}; SET LOCAL hnsw.iterative_scan = relaxed_order", connection, transaction))
        {
            await settings.ExecuteNonQueryAsync(cancellationToken);
        }
        var pool = request.Mode == SearchMode.Hybrid ? request.CandidatePool : request.Limit;
        var hits = new Dictionary<long, SearchHit>();
        var byVector = await RankAsync(connection, transaction, VectorSql(info.Dimension, collectionId), request, pool, hits, cancellationToken);
        if (request.Mode == SearchMode.Vector)
        {
            return byVector.Select(id => hits[id]).ToList();
        }
        var byText = await RankAsync(connection, transaction, TextSql(collectionId), request, pool, hits, cancellationToken);
        return ReciprocalRankFusion.Fuse([byVector, byText], request.Limit)
            .Select(f => hits[f.Key] with { Score = f.Score }).ToList();
    }

    public async Task<IReadOnlyList<SearchHit>> GetChunksAsync(string collection, string documentId, IReadOnlyCollection<int> ordinals,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ordinals);
        var (collectionId, _) = await CollectionAsync(collection, cancellationToken);
        await using var command = dataSource.CreateCommand($"""
            SELECT {HitColumns}, 0.0 FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE d.collection_id = @c AND d.external_id = @d AND d.status = 'ready' AND c.ordinal = ANY(@ordinals)
            ORDER BY c.ordinal
            """);
        command.Parameters.AddWithValue("c", collectionId);
        command.Parameters.AddWithValue("d", documentId);
        command.Parameters.AddWithValue("ordinals", ordinals.ToArray());
        var hits = new List<SearchHit>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            hits.Add(Hit(reader));
        }
        return hits;
    }

    private const string HitColumns =
        "c.id, d.external_id, c.ordinal, c.char_start, c.char_end, c.content, c.token_count, c.cache_key, d.metadata::text";

    /// <summary>
    /// Rows a search may return. The collection id is written into the SQL as a literal, not
    /// passed as a parameter: the per-collection HNSW index is partial (<c>WHERE collection_id = N</c>),
    /// and once a prepared statement (Npgsql's automatic preparation) switches to a generic plan
    /// after five executions, PostgreSQL can prove that predicate only from a constant; with a
    /// parameter, search silently becomes a sequential scan. The id comes from our own table.
    /// </summary>
    private static string Visible(long collectionId) =>
        $"c.collection_id = {collectionId.ToString(System.Globalization.CultureInfo.InvariantCulture)}::bigint AND d.status = 'ready' AND d.metadata @> @filter::jsonb";

    /// <summary>
    /// The nearest-neighbour search of one collection (parameters @filter, @q, @limit): the HNSW
    /// index finds the candidates by its halfvec expression, and they are ranked and scored by the
    /// exact distance of the full-precision vectors, so scores are the embedded index's.
    /// </summary>
    internal static string VectorSql(int dimension, long collectionId) => $"""
        WITH nearest AS MATERIALIZED (
            SELECT {HitColumns}, c.embedding::vector({dimension}) <=> @q::vector({dimension}) AS distance
            FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE {Visible(collectionId)}
            ORDER BY c.embedding::halfvec({dimension}) <=> @q::halfvec({dimension}) LIMIT @limit
        )
        SELECT *, 1 - distance FROM nearest ORDER BY distance, id
        """;

    private static string TextSql(long collectionId) => $"""
        SELECT {HitColumns}, ts_rank_cd(c.search_text, query) AS rank
        FROM chunks c JOIN documents d ON d.id = c.document_id, websearch_to_tsquery('english', @text) query
        WHERE {Visible(collectionId)} AND c.search_text @@ query
        ORDER BY rank DESC, c.id LIMIT @limit
        """;

    /// <summary>Runs one ranking; returns chunk ids in order and adds their hits (scored by the last column).</summary>
    private static async Task<List<long>> RankAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql,
        SearchRequest request, int limit, Dictionary<long, SearchHit> hits, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("filter", NpgsqlDbType.Jsonb, (request.Filter ?? []).ToJsonString());
        command.Parameters.AddWithValue("q", new Vector(request.Vector));
        command.Parameters.AddWithValue("text", request.Text ?? "");
        command.Parameters.AddWithValue("limit", limit);
        var ranking = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetInt64(0);
            ranking.Add(id);
            hits.TryAdd(id, Hit(reader));
        }
        return ranking;
    }

    /// <summary>A row of <see cref="HitColumns"/> and a score last.</summary>
    private static SearchHit Hit(NpgsqlDataReader reader) =>
        new(reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetString(5), reader.GetInt32(6),
            (byte[])reader[7], Convert.ToDouble(reader[reader.FieldCount - 1], System.Globalization.CultureInfo.InvariantCulture),
            JsonMetadata(reader.GetString(8)));

    private async Task<(long Id, CollectionInfo Info)> CollectionAsync(string name, CancellationToken cancellationToken) =>
        await FindCollectionAsync(name, cancellationToken) ?? throw new CollectionNotFoundException(name);

    private async Task<(long Id, CollectionInfo Info)?> FindCollectionAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT id, embedder, embedding_dim, settings::text FROM collections WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        // Not cached: another process sharing the database may delete the collection and create it again.
        return (reader.GetInt64(0), new CollectionInfo(name, reader.GetString(1), reader.GetInt32(2), CollectionSettings.FromJson(reader.GetString(3))));
    }

    private async Task<long> DocumentIdAsync(long collectionId, string collection, string externalId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT id FROM documents WHERE collection_id = @c AND external_id = @d");
        command.Parameters.AddWithValue("c", collectionId);
        command.Parameters.AddWithValue("d", externalId);
        return await command.ExecuteScalarAsync(cancellationToken) as long?
            ?? throw new InvalidOperationException($"document '{externalId}' has not been begun in '{collection}'");
    }

    private static JsonObject JsonMetadata(string json) => JsonNode.Parse(json) as JsonObject ?? [];
}
