using Npgsql;

namespace ChunkKv.Testing;

/// <summary>
/// The real PostgreSQL and Redis that scripts/test.sh starts, found through the same environment
/// variables the server reads. A missing variable fails the test with a clear message; storage
/// tests are never skipped.
/// </summary>
public static class TestServices
{
    public static string Postgres => Required("CHUNKKV_POSTGRES");
    public static string Redis => Required("CHUNKKV_REDIS");

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set: run the tests through scripts/test.sh, or source the env.sh that scripts/services-start.sh writes");
}

/// <summary>A throwaway database (pgvector already in it, inherited from template1), dropped on dispose.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string name, string connectionString)
    {
        Name = name;
        ConnectionString = connectionString;
        DataSource = ChunkKv.Retrieval.Indexing.PgVectorDataSource.Create(connectionString);
    }

    public string Name { get; }
    public string ConnectionString { get; }
    public NpgsqlDataSource DataSource { get; }

    public static async Task<TestDatabase> CreateAsync()
    {
        var name = $"chunkkv_test_{Guid.NewGuid():N}";
        await AdminAsync($"CREATE DATABASE {name}");
        var builder = new NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = name };
        return new TestDatabase(name, builder.ConnectionString);
    }

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull or null ? default : (T)value;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        // FORCE ends the database's sessions, but not an autovacuum worker that happens to be in it (that
        // needs a superuser): the drop is refused with 42501 then. The worker is done within moments.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await AdminAsync($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)");
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege && attempt < 20)
            {
                await Task.Delay(250);
            }
        }
    }

    private static async Task AdminAsync(string sql)
    {
        var builder = new NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
