using ChunkKv.Retrieval.Migrations;
using ChunkKv.Server.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace ChunkKv.Server.Health;

/// <summary>PostgreSQL answers, with its version, pgvector's version and the applied schema version.</summary>
public sealed class PostgresHealthCheck(PostgresConnection postgres) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (postgres.DataSource is null)
        {
            return HealthCheckResult.Healthy("not configured; the embedded index serves retrieval");
        }
        try
        {
            await using var connection = await postgres.DataSource.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"""
                SELECT current_setting('server_version'),
                       (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
                       to_regclass('{MigrationRunner.HistoryTable}') IS NOT NULL
                """, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var data = new Dictionary<string, object>
            {
                ["server_version"] = reader.GetString(0),
                ["pgvector"] = reader.IsDBNull(1) ? "missing" : reader.GetString(1),
            };
            var migrated = reader.GetBoolean(2);
            await reader.CloseAsync();
            data["schema_version"] = migrated ? await SchemaVersionAsync(connection, cancellationToken) : 0;
            return data["pgvector"] is "missing"
                ? HealthCheckResult.Unhealthy("the pgvector extension is not installed", data: data)
                : HealthCheckResult.Healthy("reachable", data);
        }
        catch (PostgresException e)
        {
            return HealthCheckResult.Unhealthy($"reachable, but the check failed: {e.MessageText}");
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"unreachable: {e.Message}");
        }
    }

    private static async Task<int> SchemaVersionAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT coalesce(max(version), 0) FROM {MigrationRunner.HistoryTable}", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
