using Npgsql;

namespace ChunkKv.Retrieval.Migrations;

/// <summary>What one run of the runner did.</summary>
public sealed record MigrationReport(IReadOnlyList<string> Applied, IReadOnlyList<string> AlreadyApplied);

/// <summary>
/// Applies ordered SQL migrations to PostgreSQL: each file once, each inside its own transaction
/// (a failure leaves nothing of that file behind), all under a session advisory lock so that
/// several servers starting together apply them exactly once. Applied files are recorded, with
/// a checksum, in <see cref="HistoryTable"/>.
/// </summary>
public sealed class MigrationRunner(NpgsqlDataSource dataSource, IReadOnlyList<Migration> migrations)
{
    public const string HistoryTable = "chunkkv_schema_migrations";

    // Any constant both callers agree on; this one spells "ChunkKv" in ASCII.
    private const long AdvisoryLockKey = 0x4368756e6b4b76;

    public MigrationRunner(NpgsqlDataSource dataSource) : this(dataSource, Migration.Embedded()) { }

    public async Task<MigrationReport> ApplyAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, $"""
                CREATE TABLE IF NOT EXISTS {HistoryTable} (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, cancellationToken);
            var history = await ReadHistoryAsync(connection, cancellationToken);

            var applied = new List<string>();
            var alreadyApplied = new List<string>();
            foreach (var migration in migrations)
            {
                if (history.TryGetValue(migration.Version, out var recordedChecksum))
                {
                    if (recordedChecksum != migration.Checksum)
                    {
                        throw new MigrationException(
                            $"migration '{migration.Name}' was changed after it was applied; add a new migration instead");
                    }
                    alreadyApplied.Add(migration.Name);
                    continue;
                }
                await ApplyOneAsync(connection, migration, cancellationToken);
                applied.Add(migration.Name);
            }
            return new MigrationReport(applied, alreadyApplied);
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    private static async Task ApplyOneAsync(NpgsqlConnection connection, Migration migration, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await ExecuteAsync(connection, migration.Sql, cancellationToken, transaction);
            await using var record = new NpgsqlCommand(
                $"INSERT INTO {HistoryTable} (version, name, checksum) VALUES (@version, @name, @checksum)",
                connection, transaction);
            record.Parameters.AddWithValue("version", migration.Version);
            record.Parameters.AddWithValue("name", migration.Name);
            record.Parameters.AddWithValue("checksum", migration.Checksum);
            await record.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception e) when (e is PostgresException or NpgsqlException)
        {
            await transaction.RollbackAsync(CancellationToken.None);
            throw new MigrationException($"migration '{migration.Name}' failed and was rolled back: {e.Message}", e);
        }
    }

    private static async Task<Dictionary<int, string>> ReadHistoryAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT version, checksum FROM {HistoryTable}", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var history = new Dictionary<int, string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            history[reader.GetInt32(0)] = reader.GetString(1);
        }
        return history;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken,
        NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
