using Npgsql;
using Pgvector.Npgsql;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// The one way ChunkKv opens PostgreSQL: an Npgsql data source with pgvector's types mapped
/// (<c>Pgvector.Vector</c> parameters and columns), which <see cref="PgVectorChunkIndex"/> needs.
/// </summary>
public static class PgVectorDataSource
{
    public static NpgsqlDataSource Create(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        return builder.Build();
    }
}
