using ChunkKv.Evaluation;
using ChunkKv.Evaluation.Datasets;

namespace ChunkKv.Cli.Commands;

/// <summary>The <c>--dataset FILE [--format F]</c> options <c>eval</c> and <c>calibrate</c> share, and the reading they share.</summary>
internal static class DatasetArguments
{
    public static readonly CliOption Dataset = CliOption.RequiredValue("dataset", "FILE",
        "the fixture's JSONL ({id, kind, prefix, chunks, question, answer} a line), CacheBlend's JSON list ({ctxs, question, answers}) or LongBench's JSONL ({context, input, answers})");

    public static readonly CliOption Format = CliOption.Value("format", "FORMAT", "fixture, cacheblend or longbench (default: detected)");

    public static readonly CliOption Passages = CliOption.Value("passages", "N",
        "keep each record's first N chunks (passages) only: a paper's set on a model with fewer positions than its prompts need");

    /// <summary>The whole set, read and checked before any model loads: a bad record fails at once, named.</summary>
    public static IReadOnlyList<EvalRecord> Read(CommandArguments arguments)
    {
        var dataset = arguments.Required("dataset");
        var format = arguments.Parsed<DatasetFormat?>("format", null, text => Enum.TryParse<DatasetFormat>(text, ignoreCase: true, out var f)
            ? f : throw new FormatException($"--format must be fixture, cacheblend or longbench, not '{text}'"));
        if (!File.Exists(dataset))
        {
            throw new CommandFailedException($"dataset '{dataset}' does not exist");
        }
        IReadOnlyList<EvalRecord> records;
        try
        {
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
        var passages = arguments.PositiveInteger("passages", int.MaxValue);
        return passages == int.MaxValue ? records : records.Select(r => r with { Chunks = r.Chunks.Take(passages).ToList() }).ToList();
    }

    /// <summary>Runs model work over a set's records; a record the model cannot take (a prompt past its positions) is named, not a crash.</summary>
    public static async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (ArgumentException e)
        {
            throw new CommandFailedException($"{e.Message}: use a model with more positions, or leave such records out");
        }
    }
}
