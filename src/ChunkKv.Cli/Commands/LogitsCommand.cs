using System.Text.Json;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv logits --model DIR --ids 1,2,3 [--positions 0,1,2]</c>: <c>{"logits": [...]}</c> of the last position.</summary>
public sealed class LogitsCommand : ICommand
{
    public string Name => "logits";
    public string Summary => "print the last position's logits for --ids as JSON";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        CliOption.RequiredValue("ids", "IDS", "comma-separated token ids"),
        CliOption.Value("positions", "POSITIONS", "comma-separated positions, one per id (default 0, 1, 2, ...)"),
    ];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var ids = arguments.IntegerList("ids") ?? throw new UsageException("--ids is required");
        var positions = arguments.IntegerList("positions") ?? Enumerable.Range(0, ids.Length).ToArray();
        if (positions.Length != ids.Length)
        {
            throw new UsageException($"--positions has {positions.Length} values for {ids.Length} ids");
        }
        using var model = ModelArguments.Load(arguments);
        var outside = ids.Where(id => (uint)id >= (uint)model.Config.VocabSize).ToArray();
        if (outside.Length > 0)
        {
            throw new UsageException($"token id {outside[0]} is outside the vocabulary of {model.Config.VocabSize}");
        }
        var transformer = model.Transformer;
        var logits = transformer.Prefill(ids, positions, transformer.NewSequence(ids.Length));
        output.WriteLine(JsonSerializer.Serialize(new { logits }));
        return Task.FromResult(CliApp.Ok);
    }
}
