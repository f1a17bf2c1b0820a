using ChunkKv.Caching.Codecs;
using ChunkKv.Cli.Bench;
using ChunkKv.Fusion;
using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv bench store|prefill|ingest|ttft|serve [options]</c>: each prints its figures as a table
/// (or one JSON object with <c>--json</c>) with ratios against a baseline measured in the same run;
/// progress goes to standard error.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary =>
        "benchmarks: 'bench store' (KV store tiers and codecs), 'bench prefill' (engine speed), 'bench ingest' (chunks/s with and without KV precompute), 'bench ttft' (fusion methods' time to first token), 'bench serve' (load test of a running server)";

    public IReadOnlyList<CliOption> Options { get; } = [];

    public IReadOnlyList<ICommand> Subcommands { get; } =
        [new StoreBench(), new PrefillBench(), new IngestBench(), new TtftBench(), new ServeBench()];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken) =>
        throw new UsageException("name a benchmark: store, prefill, ingest, ttft, serve");

    private static ModelShape Shape(CommandArguments arguments) => arguments.Parsed("shape", ModelShape.Qwen25Of500M, ModelShape.Find);

    private static string ModelCache(CommandArguments arguments) => arguments.Optional("model-cache") ?? BenchModels.DefaultCache;

    private static string? Redis(CommandArguments arguments) => arguments.Optional("redis") ?? Environment.GetEnvironmentVariable("CHUNKKV_REDIS");

    private static KvCodecId Codec(CommandArguments arguments) => arguments.Parsed("codec", KvCodecId.F16, KvCodec.ParseId);

    /// <summary><c>bench store [--tokens N] [--seconds S] [--redis CONF] [--dir PATH] [--kv-model SHAPE|none]</c>.</summary>
    private sealed class StoreBench : ICommand
    {
        public string Name => "store";
        public string Summary => "KV store tiers and codecs: put/get throughput against plain copies, redis-benchmark and the disk";

        public IReadOnlyList<CliOption> Options { get; } =
        [
            CliOption.Value("tokens", "N", "tokens per entry (default 512)"),
            CliOption.Value("seconds", "S", "seconds per figure (default 0.4)"),
            CommonOptions.Redis,
            CliOption.Value("dir", "PATH", "the disk tier's folder (default a temporary one)"),
            CliOption.Value("kv-model", "SHAPE", "the model shape whose KV entries are measured, or none (default qwen2.5-0.5b)"),
            CommonOptions.ModelCache, CommonOptions.Json,
        ];

        public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var kvModel = arguments.Parsed<ModelShape?>("kv-model", ModelShape.Qwen25Of500M, name => name == "none" ? null : ModelShape.Find(name));
            var settings = new StoreBenchmark.Settings(
                Tokens: arguments.PositiveInteger("tokens", 512),
                SecondsPerFigure: arguments.PositiveNumber("seconds", 0.4),
                Redis: Redis(arguments),
                Folder: arguments.Optional("dir"),
                KvModel: kvModel,
                ModelCache: ModelCache(arguments));
            var report = await StoreBenchmark.RunAsync(settings, Console.Error, cancellationToken);
            output.Write(arguments.Flag("json") ? report.ToJson() : report.ToTable());
            return CliApp.Ok;
        }
    }

    /// <summary><c>bench prefill [--shape NAME] [--tokens 512,2048,4096] [--decode-tokens N] [--weights f32,bf16,q8]</c>.</summary>
    private sealed class PrefillBench : ICommand
    {
        public string Name => "prefill";
        public string Summary => "the engine's prefill and decode speed against the machine's GEMM rate";

        public IReadOnlyList<CliOption> Options { get; } =
        [
            CommonOptions.Shape,
            CliOption.Value("tokens", "LENGTHS", "comma-separated prompt lengths (default 512,2048,4096)"),
            CliOption.Value("decode-tokens", "N", "tokens decoded after each prefill (default 32)"),
            CliOption.Value("weights", "TYPES", "comma-separated weight types to run in turn, the first the baseline of the ratios (default auto): auto, f32, bf16, f16, q8"),
            CommonOptions.WeightMemory,
            CliOption.Value("baseline", "ENGINE", "also run llama.cpp on the same weights (its F32, F16 or Q8_0 beside f32, bf16/f16, q8), its logits checked first: llama.cpp"),
            CommonOptions.ModelCache, CommonOptions.Json,
        ];

        public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var lengths = arguments.IntegerList("tokens") ?? [512, 2048, 4096];
            if (lengths.Any(n => n <= 0))
            {
                throw new UsageException("--tokens must be positive");
            }
            var weights = arguments.Parsed("weights", [WeightChoice.Auto], text => text.Split(',').Select(WeightChoice.Parse).ToArray());
            var baseline = arguments.Optional("baseline");
            if (baseline is not (null or "llama.cpp"))
            {
                throw new UsageException($"--baseline names llama.cpp, not '{baseline}'");
            }
            if (baseline is not null && weights.Any(w => w == WeightChoice.Auto))
            {
                throw new UsageException("--baseline llama.cpp needs the weight types named (--weights f32,bf16,q8): llama.cpp runs the counterpart of each");
            }
            weights = weights.Select(w => arguments.Parsed("weight-memory", w, w.WithMemory)).ToArray();
            var shape = Shape(arguments);
            if (baseline is not null && shape.ArchitectureName != "Qwen2ForCausalLM")
            {
                throw new UsageException($"--baseline llama.cpp writes Qwen2-architecture shapes only (qwen2.5-0.5b, qwen2.5-7b, tiny-qwen2), not {shape.Name}");
            }
            var prefill = PrefillBenchmark.Run(new PrefillBenchmark.Settings(shape, lengths,
                arguments.PositiveInteger("decode-tokens", 32), ModelCache(arguments), weights, LlamaCpp: baseline is not null), Console.Error);
            output.Write(arguments.Flag("json") ? prefill.ToJson() : prefill.ToTable());
            return Task.FromResult(CliApp.Ok);
        }
    }

    /// <summary><c>bench ingest [--shape NAME] [--tokenizer DIR] [--documents N] [--chunk-tokens N] [--codec f16]</c>.</summary>
    private sealed class IngestBench : ICommand
    {
        public string Name => "ingest";
        public string Summary => "ingestion's documents/s and chunks/s per embedder, with and without KV precompute";

        public IReadOnlyList<CliOption> Options { get; } =
        [
            CommonOptions.Shape,
            CliOption.Value("tokenizer", "DIR", "a folder with tokenizer.json (default the Qwen3 one scripts/fixtures.sh fetches)"),
            CliOption.Value("documents", "N", "documents to ingest (default 4; with --passages, that many paragraphs, default 300)"),
            CliOption.Value("passages", "FILE", "ingest a multi-hop set's paragraphs (e.g. tests/fixtures/hotpotqa/dev-300.jsonl.gz) instead of generated prose"),
            CliOption.Value("embedder", "NAMES", "embedders to index with, comma-separated: hashing, minilm (default hashing,minilm); KV precompute uses the first"),
            CliOption.Value("chunk-tokens", "N", "tokens per chunk (default 256)"),
            CommonOptions.Codec, CommonOptions.ModelCache, CommonOptions.Json,
        ];

        public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var shape = Shape(arguments);
            var passages = arguments.Optional("passages");
            if (passages is not null && !File.Exists(passages))
            {
                throw new UsageException($"--passages: '{passages}' does not exist");
            }
            var embedders = (arguments.Optional("embedder") ?? "hashing,minilm").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (embedders.Length == 0 || embedders.FirstOrDefault(e => e is not ("hashing" or "minilm")) is { } unknown)
            {
                throw new UsageException($"--embedder takes hashing and minilm, comma-separated, not '{arguments.Optional("embedder")}'");
            }
            var tokenizer = arguments.Optional("tokenizer") ?? DefaultTokenizer();
            var ingest = await IngestBenchmark.RunAsync(new IngestBenchmark.Settings(shape, tokenizer,
                arguments.PositiveInteger("documents", passages is null ? 4 : 300), arguments.PositiveInteger("chunk-tokens", 256), Codec(arguments),
                ModelCache(arguments), embedders, passages), Console.Error, cancellationToken);
            output.Write(arguments.Flag("json") ? ingest.ToJson() : ingest.ToTable());
            return CliApp.Ok;
        }

        /// <summary>The Qwen3 tokenizer that scripts/fixtures.sh fetches (its vocabulary fits the Qwen2.5 shape).</summary>
        private static string DefaultTokenizer()
        {
            var fixture = Path.Combine(".fixtures", "npm", "tokenizer-qwen3", "package", "models");
            return Directory.Exists(fixture)
                ? fixture
                : throw new UsageException("pass --tokenizer DIR (a folder with tokenizer.json), or run scripts/fixtures.sh in the repository");
        }
    }

    /// <summary><c>bench ttft [--shape NAME] [--chunks 8] [--chunk-tokens 512] [--question-tokens 32] [--methods ...] [--store memory|disk|redis] [--weights TYPE]</c>.</summary>
    private sealed class TtftBench : ICommand
    {
        public string Name => "ttft";
        public string Summary => "each fusion method's time to first token from stored caches, against a full prefill";

        public IReadOnlyList<CliOption> Options { get; } =
        [
            CommonOptions.Shape,
            CliOption.Value("chunks", "N", "retrieved chunks (default 8)"),
            CliOption.Value("chunk-tokens", "N", "tokens per chunk (default 512)"),
            CliOption.Value("question-tokens", "N", "tokens of the question (default 32)"),
            CliOption.Value("prefix-tokens", "N", "tokens of the shared prefix (default 16)"),
            CliOption.Value("methods", "METHODS", "comma-separated fusion methods (default full,reuse,epic:16,cacheblend:0.15,query:0.15)"),
            CliOption.Value("store", "TIER", "where the caches are loaded from: memory (default), disk or redis"),
            CommonOptions.Codec, CommonOptions.Redis,
            CliOption.Value("repeats", "N", "rounds of every method in turn, full included; medians are reported (default 3)"),
            CliOption.Flag("cold", "with --store redis: also the first reuse query on a fresh connection, every cache in Redis only (a restarted server)"),
            CommonOptions.Weights, CommonOptions.WeightMemory,
            CommonOptions.ModelCache, CommonOptions.Json,
        ];

        public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var shape = Shape(arguments);
            var methods = arguments.Parsed("methods", FusionMethod.ParseList("full,reuse,epic:16,cacheblend:0.15,query:0.15"), FusionMethod.ParseList);
            var store = arguments.Optional("store") ?? "memory";
            if (arguments.Flag("cold") && store != "redis")
            {
                throw new UsageException("--cold measures a restart with every cache in Redis: it goes with --store redis");
            }
            if (arguments.Flag("cold") && !methods.Contains(FusionMethod.Reuse))
            {
                throw new UsageException("--cold times reuse's first query against its warm ones: name reuse among --methods");
            }
            var weights = arguments.Parsed("weights", WeightChoice.Auto, WeightChoice.Parse);
            weights = arguments.Parsed("weight-memory", weights, weights.WithMemory);
            var ttft = await TtftBenchmark.RunAsync(new TtftBenchmark.Settings(shape, arguments.PositiveInteger("chunks", 8),
                arguments.PositiveInteger("chunk-tokens", 512), arguments.PositiveInteger("question-tokens", 32),
                arguments.PositiveInteger("prefix-tokens", 16), methods, store, Codec(arguments),
                Redis(arguments), arguments.PositiveInteger("repeats", 3), ModelCache(arguments), arguments.Flag("cold"), weights),
                Console.Error, cancellationToken);
            output.Write(arguments.Flag("json") ? ttft.ToJson() : ttft.ToTable());
            return CliApp.Ok;
        }
    }

    /// <summary><c>bench serve --collection C [--clients 8] [--seconds 60] [--questions FILE] [--method M] [--server URL]</c>.</summary>
    private sealed class ServeBench : ICommand
    {
        public string Name => "serve";
        public string Summary => "a load test of a running server: TTFT percentiles, errors, the server's memory";

        public IReadOnlyList<CliOption> Options { get; } =
        [
            CommonOptions.Collection,
            CliOption.Value("clients", "N", "concurrent clients (default 8)"),
            CliOption.Value("seconds", "S", "how long (default 60)"),
            CliOption.Value("questions", "FILE", "questions, one a line (default three built-in ones)"),
            CliOption.Value("method", "METHOD", "the fusion method (default: the server's)"),
            CliOption.Value("ingest-while", "FILE", "ingest this text file into the collection as a background job while the load runs, and wait for it"),
            CommonOptions.Server, CommonOptions.Json,
        ];

        public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var questions = arguments.Optional("questions") is { } file
                ? File.ReadAllLines(file).Where(l => l.Trim().Length > 0).ToList()
                : ["What does the cache hold?", "Which layer keeps the keys?", "Where does the question go?"];
            var ingest = arguments.Optional("ingest-while");
            if (ingest is not null && !File.Exists(ingest))
            {
                throw new UsageException($"--ingest-while: '{ingest}' does not exist");
            }
            using var client = ServerClient.Create(arguments);
            var serve = await ServeBenchmark.RunAsync(new ServeBenchmark.Settings(client, arguments.Required("collection"), questions,
                arguments.PositiveInteger("clients", 8), arguments.PositiveNumber("seconds", 60), arguments.Optional("method"),
                ingest is null ? null : await File.ReadAllTextAsync(ingest, cancellationToken)), cancellationToken);
            output.Write(arguments.Flag("json") ? serve.ToJson() : serve.ToTable());
            return CliApp.Ok;
        }
    }
}
