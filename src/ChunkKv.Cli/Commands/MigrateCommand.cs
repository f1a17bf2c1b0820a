using ChunkKv.Retrieval.Migrations;
using Npgsql;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv migrate [--postgres CONNSTR]</c>: applies the SQL migrations and says which.</summary>
public sealed class MigrateCommand : ICommand
{
    public string Name => "migrate";
    public string Summary => "apply the database migrations (--postgres, default $CHUNKKV_POSTGRES)";

    public IReadOnlyList<CliOption> Options { get; } = [CliOption.Value("postgres", "CONNSTR", "the PostgreSQL connection string")];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var connectionString = arguments.Optional("postgres") ?? Environment.GetEnvironmentVariable("CHUNKKV_POSTGRES")
            ?? throw new UsageException("no database: pass --postgres or set CHUNKKV_POSTGRES");
        await using var dataSource = ChunkKv.Retrieval.Indexing.PgVectorDataSource.Create(connectionString);
        try
        {
            var report = await new MigrationRunner(dataSource).ApplyAsync(cancellationToken);
            foreach (var name in report.Applied)
            {
                output.WriteLine($"applied {name}");
            }
            output.WriteLine(report.Applied.Count == 0
                ? $"schema up to date ({report.AlreadyApplied.Count} migrations)"
                : $"{report.Applied.Count} applied, {report.AlreadyApplied.Count} already applied");
            return CliApp.Ok;
        }
        catch (MigrationException e)
        {
            throw new CommandFailedException(e.Message, e);
        }
        catch (NpgsqlException e)
        {
            throw new CommandFailedException($"cannot reach PostgreSQL: {e.Message}", e);
        }
    }
}
