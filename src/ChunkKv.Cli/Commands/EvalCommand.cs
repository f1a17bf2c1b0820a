using System.Globalization;
using System.Text.Json;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
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
    public string Summary => "score fusion methods on a set (the fixture's, CacheBlend's or LongBench's): the set's metric, agreement with full, TTFT";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        DatasetArguments.Dataset,
        DatasetArguments.Format,
        CliOption.Value("max-tokens", "N", "answer tokens decoded (default 16 for the fixture, 32 for QA as CacheBlend, 128 for summaries)"),
        CliOption.Value("methods", "METHODS", $"comma-separated fusion methods (default {DefaultMethods})"),
        CommonOptions.Codec,
        DatasetArguments.Passages,
        CliOption.Value("limit", "N", "at most N questions of each kind (the first N)"),
        CliOption.Value("report", "FILE", "also write an HTML report with charts"),
        CommonOptions.Json,
    ];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var methods = arguments.Parsed("methods", FusionMethod.ParseList(DefaultMethods), FusionMethod.ParseList);
        var codec = KvCodec.Create(arguments.Parsed("codec", KvCodecId.F16, KvCodec.ParseId));
        var dataset = arguments.Required("dataset");
        var records = DatasetArguments.Read(arguments);
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
                scores = await DatasetArguments.RunAsync(() => evaluator.EvaluateAsync(records, methods, done => task.Value = done, cancellationToken));
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
