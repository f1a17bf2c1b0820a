using ChunkKv.Caching.Codecs;
using ChunkKv.Cli.Bench;
using ChunkKv.Fusion;
using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv bench store [--json] [--tokens N] [--seconds S] [--redis CONF] [--dir PATH] [--kv-model SHAPE|none]</c> and
/// <c>chunkkv bench prefill [--shape NAME] [--tokens 512,2048,4096] [--decode-tokens N] [--json]</c> and
/// <c>chunkkv bench ingest [--shape NAME] [--tokenizer DIR] [--documents N] [--chunk-tokens N] [--codec f16] [--json]</c> and
/// <c>chunkkv bench serve --collection C [--clients 8] [--seconds 60] [--questions FILE] [--server URL] [--json]</c> and
/// <c>chunkkv bench ttft [--shape NAME] [--chunks 8] [--chunk-tokens 512] [--question-tokens 32] [--methods ...] [--store memory|disk|redis] [--json]</c>.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary =>
        "benchmarks: 'bench store' (KV store tiers and codecs), 'bench prefill' (engine speed), 'bench ingest' (chunks/s with and without KV precompute), 'bench ttft' (fusion methods' time to first token), 'bench serve' (load test of a running server)";

    /// <summary>The Qwen3 tokenizer that scripts/fixtures.sh fetches (its vocabulary fits the Qwen2.5 shape).</summary>
    private static string DefaultTokenizer()
    {
        var fixture = Path.Combine(".fixtures", "npm", "tokenizer-qwen3", "package", "models");
        return Directory.Exists(fixture)
            ? fixture
            : throw new UsageException("pass --tokenizer DIR (a folder with tokenizer.json), or run scripts/fixtures.sh in the repository");
    }

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var target = (arguments.Positional.Count > 0 ? arguments.Positional[0] : null)
            ?? throw new UsageException("name a benchmark: store, prefill, ingest");
        switch (target)
        {
            case "store":
                var settings = new StoreBenchmark.Settings(
                    Tokens: arguments.PositiveInteger("tokens", 512),
                    SecondsPerFigure: arguments.PositiveNumber("seconds", 0.4),
                    Redis: arguments.Optional("redis") ?? Environment.GetEnvironmentVariable("CHUNKKV_REDIS"),
                    Folder: arguments.Optional("dir"),
                    KvModel: arguments.Optional("kv-model") is "none" ? null : ModelShape.Find(arguments.Optional("kv-model") ?? ModelShape.Qwen25Of500M.Name),
                    ModelCache: arguments.Optional("model-cache") ?? BenchModels.DefaultCache);
                var report = await StoreBenchmark.RunAsync(settings, Console.Error, cancellationToken);
                output.Write(arguments.Flag("json") ? report.ToJson() : report.ToTable());
                return CliApp.Ok;
            case "prefill":
                var shapeName = arguments.Optional("shape") ?? ModelShape.Qwen25Of500M.Name;
                var shape = ModelShape.All.FirstOrDefault(s => s.Name == shapeName)
                    ?? throw new UsageException($"unknown shape '{shapeName}'; known: {string.Join(", ", ModelShape.All.Select(s => s.Name))}");
                var lengths = arguments.IntegerList("tokens") ?? [512, 2048, 4096];
                if (lengths.Any(n => n <= 0))
                {
                    throw new UsageException("--tokens must be positive");
                }
                var prefill = PrefillBenchmark.Run(new PrefillBenchmark.Settings(shape, lengths,
                    arguments.PositiveInteger("decode-tokens", 32),
                    arguments.Optional("model-cache") ?? BenchModels.DefaultCache), Console.Error);
                output.Write(arguments.Flag("json") ? prefill.ToJson() : prefill.ToTable());
                return CliApp.Ok;
            case "ingest":
                var ingestShape = ModelShape.Find(arguments.Optional("shape") ?? ModelShape.Qwen25Of500M.Name);
                var tokenizer = arguments.Optional("tokenizer") ?? DefaultTokenizer();
                var ingest = await IngestBenchmark.RunAsync(new IngestBenchmark.Settings(ingestShape, tokenizer,
                    arguments.PositiveInteger("documents", 4), arguments.PositiveInteger("chunk-tokens", 256),
                    KvCodec.ParseId(arguments.Optional("codec") ?? "f16"), arguments.Optional("model-cache") ?? BenchModels.DefaultCache),
                    Console.Error, cancellationToken);
                output.Write(arguments.Flag("json") ? ingest.ToJson() : ingest.ToTable());
                return CliApp.Ok;
            case "ttft":
                var ttftShape = ModelShape.All.FirstOrDefault(s => s.Name == (arguments.Optional("shape") ?? ModelShape.Qwen25Of500M.Name))
                    ?? throw new UsageException($"unknown shape '{arguments.Optional("shape")}'; known: {string.Join(", ", ModelShape.All.Select(s => s.Name))}");
                IReadOnlyList<FusionMethod> methods;
                KvCodecId codec;
                try
                {
                    methods = FusionMethod.ParseList(arguments.Optional("methods") ?? "full,reuse,epic:16,cacheblend:0.15,query:0.15");
                    codec = KvCodec.ParseId(arguments.Optional("codec") ?? "f16");
                }
                catch (FormatException e)
                {
                    throw new UsageException(e.Message);
                }
                var ttft = await TtftBenchmark.RunAsync(new TtftBenchmark.Settings(ttftShape, arguments.PositiveInteger("chunks", 8),
                    arguments.PositiveInteger("chunk-tokens", 512), arguments.PositiveInteger("question-tokens", 32),
                    arguments.PositiveInteger("prefix-tokens", 16), methods, arguments.Optional("store") ?? "memory", codec,
                    arguments.Optional("redis") ?? Environment.GetEnvironmentVariable("CHUNKKV_REDIS"), arguments.PositiveInteger("repeats", 3),
                    arguments.Optional("model-cache") ?? BenchModels.DefaultCache), Console.Error, cancellationToken);
                output.Write(arguments.Flag("json") ? ttft.ToJson() : ttft.ToTable());
                return CliApp.Ok;
            case "serve":
                var questions = arguments.Optional("questions") is { } file
                    ? File.ReadAllLines(file).Where(l => l.Trim().Length > 0).ToList()
                    : ["What does the cache hold?", "Which layer keeps the keys?", "Where does the question go?"];
                using (var client = ServerClient.Create(arguments))
                {
                    var serve = await ServeBenchmark.RunAsync(new ServeBenchmark.Settings(client, arguments.Required("collection"), questions,
                        arguments.PositiveInteger("clients", 8), arguments.PositiveNumber("seconds", 60), arguments.Optional("method")), cancellationToken);
                    output.Write(arguments.Flag("json") ? serve.ToJson() : serve.ToTable());
                }
                return CliApp.Ok;
            default:
                throw new UsageException($"unknown benchmark '{target}'; known: store, prefill, ingest, ttft, serve");
        }
    }
}
