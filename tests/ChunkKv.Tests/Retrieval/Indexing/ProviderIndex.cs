using ChunkKv.Inference.Tests;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Retrieval.Migrations;
using ChunkKv.Testing;

namespace ChunkKv.Tests.Retrieval.Indexing;

/// <summary>
/// A fresh index of one provider for a test: "pgvector" (a throwaway database of the test
/// PostgreSQL, migrated) or "embedded" (a temporary folder); disposing removes it.
/// </summary>
internal sealed class ProviderIndex : IAsyncDisposable
{
    private readonly string? folder;

    private ProviderIndex(IChunkIndex index, TestDatabase? database, string? folder)
    {
        Index = index;
        Database = database;
        this.folder = folder;
    }

    public IChunkIndex Index { get; }

    /// <summary>The database behind a pgvector index; null for the embedded one.</summary>
    public TestDatabase? Database { get; }

    public static async Task<ProviderIndex> CreateAsync(string provider)
    {
        if (provider == "pgvector")
        {
            var database = await TestDatabase.CreateAsync();
            await new MigrationRunner(database.DataSource).ApplyAsync();
            return new ProviderIndex(new PgVectorChunkIndex(database.DataSource), database, null);
        }
        var folder = Fixtures.TempDirectory("provider-index");
        return new ProviderIndex(EmbeddedChunkIndex.Open(folder), null, folder);
    }

    public async ValueTask DisposeAsync()
    {
        (Index as IDisposable)?.Dispose();
        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
        if (folder is not null)
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
