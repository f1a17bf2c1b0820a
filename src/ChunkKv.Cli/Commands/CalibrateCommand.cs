using System.Globalization;
using System.Text.Json;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using Spectre.Console;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv calibrate --model DIR --dataset FILE</c>: the fidelity gate for a model on a set's own
/// prompts (each also in other chunk orders): every method up a ladder of budgets against full, the
/// smallest budget of each that meets the target, and the fastest passing method as the default.
/// <c>chunkkv calibrate --collection C [--server URL]</c> has a running server calibrate one of its
/// collections on its own chunks (a background job, followed here) and keep the result for its queries.
/// </summary>
public sealed class CalibrateCommand : ICommand
{
    private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string Name => "calibrate";
    public string Summary => "find each fusion method's smallest budget that keeps full's first token on a model and a set's prompts, or on a server's collection";

    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(250);

    public IReadOnlyList<CliOption> Options { get; } =
    [
        // Required unless --collection is given (then the server's model and the collection's chunks are used).
        CliOption.Value("model", "DIR", "a Hugging Face Llama-family model directory (with --dataset)"),
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        CliOption.Value("dataset", "FILE", "the prompts: the fixture's JSONL, CacheBlend's JSON list or LongBench's JSONL (with --model)"),
        DatasetArguments.Format,
        DatasetArguments.Passages,
        CliOption.Value("collection", "NAME", "calibrate this collection of a running server instead (on its own chunks; not with --model)"),
        CommonOptions.Server,
        CliOption.Value("limit", "N", "prompts taken from the set, spread over its kinds (default 32; 16 sampled from a collection)"),
        CliOption.Value("orders", "N", "chunk orders each prompt runs in (default 2)"),
        CliOption.Value("agreement", "SHARE", "first tokens equal to full's on at least this share of prompts (default 0.99)"),
        CliOption.Value("kl", "NATS", "mean KL divergence from full's first-token distribution at most this (default 0.01)"),
        CommonOptions.Codec,
        CommonOptions.Json,
    ];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var target = new CalibrationTarget(arguments.NonNegativeNumber("agreement", 0.99), arguments.NonNegativeNumber("kl", 0.01));
        if (target.Agreement > 1)
        {
            throw new UsageException("--agreement is a share from 0 to 1");
        }
        if (arguments.Optional("collection") is { } collection)
        {
            if (arguments.Optional("model") is not null || arguments.Optional("dataset") is not null)
            {
                throw new UsageException("--collection calibrates on the server's model and the collection's chunks: not with --model or --dataset");
            }
            return Print(await OnServerAsync(arguments, collection, target, cancellationToken), target, arguments.Flag("json"), output);
        }
        var records = DatasetArguments.Read(arguments);
        // An even spread over the set's kinds (a file often lists one kind after another).
        var kinds = records.GroupBy(r => r.Kind).Select(g => g.ToList()).ToList();
        var prompts = Enumerable.Range(0, kinds.Max(k => k.Count)).SelectMany(i => kinds.Where(k => i < k.Count).Select(k => k[i]))
            .Take(arguments.PositiveInteger("limit", 32)).ToList();
        var codec = KvCodec.Create(arguments.Parsed("codec", KvCodecId.F16, KvCodec.ParseId));
        using var model = ModelArguments.Load(arguments);
        var calibrator = new Calibrator(new ChunkKvRuntime(model, new KvStore([new MemoryTier(4L << 30)]), codec));
        var orders = arguments.PositiveInteger("orders", 2);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        CalibrationResult? result = null;
        await console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"{prompts.Count * orders} prompts", maxValue: prompts.Count * orders);
                result = await DatasetArguments.RunAsync(() =>
                    calibrator.CalibrateAsync(prompts, target, orders, progress: done => task.Value = done, cancellationToken: cancellationToken));
            });
        return Print(result!, target, arguments.Flag("json"), output);
    }

    /// <summary>Submits the collection's calibration to the server and follows its job to the end.</summary>
    private static async Task<CalibrationResult> OnServerAsync(CommandArguments arguments, string collection, CalibrationTarget target,
        CancellationToken cancellationToken)
    {
        using var client = ServerClient.Create(arguments);
        var body = new { prompts = arguments.PositiveInteger("limit", 16), orders = arguments.PositiveInteger("orders", 2), agreement = target.Agreement, kl = target.MeanKl };
        var job = await ServerClient.PostJsonAsync(client, $"/v1/collections/{Uri.EscapeDataString(collection)}/calibrate", body, cancellationToken);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"calibrating {Markup.Escape(collection)}");
                while (job.GetProperty("state").GetString() is "queued" or "running")
                {
                    (task.MaxValue, task.Value) = (Math.Max(1, job.GetProperty("total").GetInt32()), job.GetProperty("done").GetInt32());
                    await Task.Delay(PollEvery, cancellationToken);
                    job = await ServerClient.GetJsonAsync(client, $"/v1/jobs/{job.GetProperty("id").GetString()}", cancellationToken);
                }
                task.Value = task.MaxValue;
            });
        if (job.GetProperty("state").GetString() != "succeeded")
        {
            var error = job.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? $": {e.GetString()}" : "";
            throw new CommandFailedException($"calibration of '{collection}' {job.GetProperty("state").GetString()}{error}");
        }
        return job.GetProperty("calibration").Deserialize<CalibrationResult>(SnakeCase)!;
    }

    private static int Print(CalibrationResult result, CalibrationTarget target, bool json, TextWriter output)
    {
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(result, SnakeCase));
            return CliApp.Ok;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"target: first token equal to full's on ≥ {target.Agreement:P1} of {result.Prompts} prompts, mean KL ≤ {target.MeanKl}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"method",-18} {"agree",8} {"KL",8} {"recomp",7} {"TTFT ms",8}  meets"));
        foreach (var family in result.Methods)
        {
            foreach (var r in family.Ladder)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Method,-18} {r.Agreement,8:P1} {r.MeanKl,8:F4} {r.RecomputedShare,7:P1} {r.MedianTtftSeconds * 1000,8:F2}  {(r.Meets ? "yes" : "no")}"));
            }
            output.WriteLine($"  {family.Family}: {family.Smallest ?? "no budget meets the target"}");
        }
        output.WriteLine($"default: {result.Default ?? "none (full)"}");
        return CliApp.Ok;
    }
}
