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
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Index.EnsureCollectionAsync("big", "e", 2048));
        Assert.Contains("2000", error.Message, StringComparison.Ordinal);
    }
}
