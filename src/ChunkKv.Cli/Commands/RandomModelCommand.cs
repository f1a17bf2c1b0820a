using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv random-model --shape NAME --out DIR [--seed N] [--dtype f32|f16|bf16] [--tokenizer DIR]</c>:
/// a model directory with deterministic random weights, for tests, references and benchmarks.
/// </summary>
public sealed class RandomModelCommand : ICommand
{
    public string Name => "random-model";
    public string Summary => "write a model with random weights at a named shape (" + string.Join(", ", ModelShape.All.Select(s => s.Name)) + ")";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.RequiredValue("shape", "NAME", "the model shape"),
        CliOption.RequiredValue("out", "DIR", "the model directory to write"),
        CliOption.Value("seed", "N", "the weights' seed (default 1)"),
        CliOption.Value("dtype", "TYPE", "f32 (default), f16 or bf16"),
        CliOption.Value("tokenizer", "DIR", "copy tokenizer.json and tokenizer_config.json from here"),
    ];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var shape = arguments.Parsed<ModelShape?>("shape", null, ModelShape.Find) ?? throw new UsageException("--shape is required");
        var type = (arguments.Optional("dtype") ?? "f32").ToLowerInvariant() switch
        {
            "f32" => TensorType.F32,
            "f16" => TensorType.F16,
            "bf16" => TensorType.BF16,
            var other => throw new UsageException($"--dtype must be f32, f16 or bf16, not '{other}'"),
        };
        var directory = arguments.Required("out");
        RandomModel.Write(directory, shape, (ulong)arguments.PositiveInteger("seed", 1), type);
        if (arguments.Optional("tokenizer") is { } tokenizerDirectory)
        {
            foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json" })
            {
                var source = Path.Combine(tokenizerDirectory, name);
                if (File.Exists(source))
                {
                    File.Copy(source, Path.Combine(directory, name), overwrite: true);
                }
            }
        }
        output.WriteLine($"wrote {shape.Name} ({type}) to {directory}");
        return Task.FromResult(CliApp.Ok);
    }
}
