using ChunkKv.Inference.Models;
using ChunkKv.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv serve [--model DIR] [--urls URL] [--data DIR] [--postgres CONNSTR] [--redis CONF] [--chunk-tokens N] [--weights TYPE] [--weight-memory WHERE] [--embedder NAME]</c>:
/// runs the ChunkKv server in the foreground until Ctrl-C. The options are shorthands for its
/// settings (<c>Model</c>, <c>DataDirectory</c>, ...); the CHUNKKV_* environment and appsettings apply as well.
/// </summary>
public sealed class ServeCommand : ICommand
{
    public string Name => "serve";
    public string Summary => "run the ChunkKv server (HTTP API, playground page at /) until Ctrl-C";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Value("model", "DIR", "the model directory (default $CHUNKKV_MODEL)"),
        CliOption.Value("urls", "URL", "where to listen (default http://127.0.0.1:8080)"),
        CliOption.Value("data", "DIR", "the data directory: embedded index, disk cache tier, jobs"),
        CliOption.Value("postgres", "CONNSTR", "use PostgreSQL + pgvector for retrieval (default $CHUNKKV_POSTGRES; none: the embedded index)"),
        CommonOptions.Redis,
        CliOption.Value("chunk-tokens", "N", "tokens per chunk at ingestion"),
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        CliOption.Value("embedder", "NAME", "how new collections embed: minilm (default), hashing, engine or openai (with CHUNKKV_EMBEDDERURL, ...)"),
    ];

    /// <summary>Each option and the server setting it stands for.</summary>
    private static readonly (string Option, string Setting)[] Settings =
        [("model", "Model"), ("urls", "urls"), ("data", "DataDirectory"), ("postgres", "Postgres"), ("redis", "Redis"), ("chunk-tokens", "ChunkTokens"), ("embedder", "Embedder"), ("weights", "Weights"), ("weight-memory", "WeightMemory")];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        if (arguments.Optional("model") is { } model && !Directory.Exists(model))
        {
            throw new CommandFailedException($"model directory '{model}' does not exist");
        }
        // Refused here, with the option's name, rather than by the server.
        _ = arguments.PositiveInteger("chunk-tokens", 1);
        var weights = arguments.Parsed("weights", WeightChoice.Auto, WeightChoice.Parse);
        _ = arguments.Parsed("weight-memory", weights, weights.WithMemory);
        var args = new List<string>();
        foreach (var (option, setting) in Settings)
        {
            if (arguments.Optional(option) is { } value)
            {
                args.AddRange([$"--{setting}", value]);
            }
        }
        if (arguments.Optional("urls") is null && Environment.GetEnvironmentVariable("ASPNETCORE_URLS") is null)
        {
            args.AddRange(["--urls", ServerClient.DefaultUrl]);
        }
        WebApplication app;
        try
        {
            app = ChunkKvServer.Build([.. args]);
        }
        // A setting refused (a bad value from the environment is a FormatException), a missing file, a broken model.
        catch (Exception e) when (e is InvalidOperationException or FormatException or IOException or ModelFormatException)
        {
            throw new CommandFailedException($"the server did not start: {e.Message}", e);
        }
        await using (app)
        {
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
        }
        return CliApp.Ok;
    }
}
