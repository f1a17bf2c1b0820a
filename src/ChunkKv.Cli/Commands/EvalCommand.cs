using System.Globalization;
using System.Text.Json;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Evaluation.Datasets;
using ChunkKv.Fusion;
using ChunkKv.Pipeline;
using Spectre.Console;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv eval --model DIR --dataset FILE.jsonl --methods full,reuse,... [--codec f16] [--limit N] [--report out.html] [--json]</c>:
/// per method and question kind, accuracy against the gold answers and fidelity to <c>full</c>, with
/// caches through the real store (memory tier).
/// </summary>
public sealed class EvalCommand : ICommand
{
    public const string DefaultMethods = "full,reuse,epic:16,cacheblend:0.15,kvlink,cachecraft,query:0.15";

    private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string Name => "eval";
    public string Summary => "score fusion methods on a held-apart JSONL set (accuracy, agreement with full, TTFT)";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CommonOptions.Weights,
        CliOption.RequiredValue("dataset", "FILE", "the fixture's JSONL ({id, kind, prefix, chunks, question, answer} a line), CacheBlend's JSON list ({ctxs, question, answers}) or LongBench's JSONL ({context, input, answers})"),
        CliOption.Value("format", "FORMAT", "fixture, cacheblend or longbench (default: detected)"),
        CliOption.Value("max-tokens", "N", "answer tokens decoded (default 16 for the fixture, 32 for QA as CacheBlend, 128 for summaries)"),
        CliOption.Value("methods", "METHODS", $"comma-separated fusion methods (default {DefaultMethods})"),
        CommonOptions.Codec,
        CliOption.Value("limit", "N", "at most N questions of each kind (the first N)"),
        CliOption.Value("report", "FILE", "also write an HTML report with charts"),
        CommonOptions.Json,
    ];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var methods = arguments.Parsed("methods", FusionMethod.ParseList(DefaultMethods), FusionMethod.ParseList);
        var codec = KvCodec.Create(arguments.Parsed("codec", KvCodecId.F16, KvCodec.ParseId));
        var dataset = arguments.Required("dataset");
        if (!File.Exists(dataset))
        {
            throw new CommandFailedException($"dataset '{dataset}' does not exist");
        }
        var format = arguments.Parsed<DatasetFormat?>("format", null, text => Enum.TryParse<DatasetFormat>(text, ignoreCase: true, out var f)
            ? f : throw new FormatException($"--format must be fixture, cacheblend or longbench, not '{text}'"));
        IReadOnlyList<EvalRecord> records;
        try
        {
            // The whole set is read and checked before the model loads: a bad record fails at once.
            records = DatasetReader.Read(dataset, format);
        }
        catch (FormatException e)
        {
            throw new CommandFailedException(e.Message);
        }
        if (records.Count == 0)
        {
            throw new CommandFailedException($"dataset '{dataset}' holds no records");
        }
        var limit = arguments.PositiveInteger("limit", int.MaxValue);
        records = records.GroupBy(r => r.Kind).SelectMany(g => g.Take(limit)).ToList();
        using var model = ModelArguments.Load(arguments);
        var defaultTokens = records[0].Metric switch { AnswerMetric.F1 => 32, AnswerMetric.RougeL => 128, _ => 16 };
        var evaluator = new FusionEvaluator(new ChunkKvRuntime(model, new KvStore([new MemoryTier(4L << 30)]), codec),
            arguments.PositiveInteger("max-tokens", defaultTokens));
        var json = arguments.Flag("json");
        // Progress on standard error, so the table or the JSON on standard output stays clean.
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        IReadOnlyList<MethodScore> scores = [];
        await console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"{records.Count} questions × {methods.Count} methods", maxValue: records.Count);
                try
                {
                    scores = await evaluator.EvaluateAsync(records, methods, done => task.Value = done, cancellationToken);
                }
                catch (ArgumentException e)
                {
                    // A record the model cannot take (a prompt past its positions): named, not a crash.
                    throw new CommandFailedException($"{e.Message}: use a model with more positions, or leave such records out");
                }
            });
        if (arguments.Optional("report") is { } report)
        {
            await File.WriteAllTextAsync(report, EvalReport.Html($"ChunkKv fusion methods on {Path.GetFileName(dataset)} ({codec} caches)", scores), cancellationToken);
            Console.Error.WriteLine($"report written to {report}");
        }
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new { dataset = Path.GetFileName(dataset), codec = codec.ToString(), results = scores },
                SnakeCase));
            return CliApp.Ok;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"method",-18} {"kind",-9} {"n",5} {"metric",7} {"score",7} {"EM",7} {"agree",7} {"KL",8} {"same",6} {"recomp",7} {"TTFT ms",8}"));
        foreach (var s in scores)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Method,-18} {s.Kind,-9} {s.Questions,5} {s.Metric,7} {s.Accuracy,7:P1} {s.ExactMatch,7:P1} {s.FirstTokenAgreement,7:P1} {s.MeanKlDivergence,8:F4} {s.SameAnswerAsFull,6:P0} {s.RecomputedShare,7:P1} {s.MedianTtftSeconds * 1000,8:F2}"));
        }
        return CliApp.Ok;
    }
}
