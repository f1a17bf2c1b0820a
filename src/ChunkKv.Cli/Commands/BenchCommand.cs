using ChunkKv.Cli.Bench;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv bench store [--json] [--tokens N] [--seconds S] [--redis CONF] [--dir PATH]</c>.</summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary => "benchmarks: 'bench store' (KV store tiers and codecs)";

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var target = (arguments.Positional.Count > 0 ? arguments.Positional[0] : null)
            ?? throw new UsageException("name a benchmark: store");
        switch (target)
        {
            case "store":
                var settings = new StoreBenchmark.Settings(
                    Tokens: arguments.PositiveInteger("tokens", 512),
                    SecondsPerFigure: arguments.PositiveNumber("seconds", 0.4),
                    Redis: arguments.Optional("redis") ?? Environment.GetEnvironmentVariable("CHUNKKV_REDIS"),
                    Folder: arguments.Optional("dir"));
                var report = await StoreBenchmark.RunAsync(settings, cancellationToken);
                output.Write(arguments.Flag("json") ? report.ToJson() : report.ToTable());
                return CliApp.Ok;
            default:
                throw new UsageException($"unknown benchmark '{target}'; known: store");
        }
    }
}
