using ChunkKv.Retrieval.Migrations;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ChunkKv.Server.Storage;

/// <summary>
/// Applies the SQL migrations when the server starts. PostgreSQL that is not up yet is retried
/// in the background (the health endpoint says so meanwhile); a migration that fails is logged
/// and not retried, since running it again would fail the same way.
/// </summary>
public sealed class MigrateOnStartService(
    PostgresConnection postgres, IOptions<StorageOptions> options, ILogger<MigrateOnStartService> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Whether the schema is as this server expects it (or it is not this server's to migrate):
    /// until then the API answers 503, so no request meets a table or column that is not there yet.
    /// A failed migration ends the wait too; requests then fail on the database as they would.
    /// </summary>
    public bool Done => _done.Task.IsCompleted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await MigrateAsync(stoppingToken);
        }
        finally
        {
            _done.TrySetResult();
        }
    }

    private async Task MigrateAsync(CancellationToken stoppingToken)
    {
        if (postgres.DataSource is null || !options.Value.MigrateOnStart)
        {
            return;
        }
        var runner = new MigrationRunner(postgres.DataSource);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var report = await runner.ApplyAsync(stoppingToken);
                logger.LogInformation("Migrations: applied [{Applied}], {Already} already applied",
                    string.Join(", ", report.Applied), report.AlreadyApplied.Count);
                return;
            }
            catch (MigrationException e)
            {
                logger.LogError(e, "Migrations failed; the schema stays at its last good version");
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("PostgreSQL unreachable for migrations ({Message}); retrying in {Delay}", e.Message, RetryDelay);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }
}
