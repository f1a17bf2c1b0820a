using System.Globalization;
using ChunkKv.Inference.Generation;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv generate --model DIR --prompt "..." [--max-tokens N] [--temperature T] [--top-p P] [--seed S]</c>:
/// streams the completion to standard output as it is decoded; timings go to standard error.
/// </summary>
public sealed class GenerateCommand : ICommand
{
    public string Name => "generate";
    public string Summary => "complete --prompt with --model DIR, streaming the text";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        CliOption.RequiredValue("prompt", "TEXT", "the text to complete"),
        CliOption.Value("max-tokens", "N", "tokens to generate at most (default 128)"),
        CliOption.Value("temperature", "T", "0 (default) is greedy"),
        CliOption.Value("top-p", "P", "nucleus sampling, above 0 and at most 1 (default 1)"),
        CliOption.Value("seed", "N", "the sampler's seed"),
    ];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var prompt = arguments.Required("prompt");
        var maxTokens = arguments.PositiveInteger("max-tokens", 128);
        var sampling = new SamplingOptions(
            Temperature: (float)arguments.NonNegativeNumber("temperature", 0),
            TopP: (float)arguments.PositiveNumber("top-p", 1),
            Seed: arguments.Optional("seed") is null ? null : arguments.PositiveInteger("seed", 1));
        if (sampling.TopP > 1)
        {
            throw new UsageException("--top-p must be at most 1");
        }
        using var model = ModelArguments.Load(arguments);
        var tokenizer = model.Tokenizer ?? throw new CommandFailedException($"{model.Directory} has no tokenizer.json");
        var ids = tokenizer.Encode(prompt);
        if (ids.Length == 0)
        {
            throw new UsageException("--prompt encodes to no tokens");
        }
        // Decode the whole completion each time and print what is new: a token may end mid-character.
        var generated = new List<int>();
        var printed = 0;
        void OnToken(int token)
        {
            generated.Add(token);
            var text = tokenizer.Decode(generated.ToArray());
            if (text.Length > printed && !text.EndsWith('\uFFFD'))
            {
                output.Write(text[printed..]);
                output.Flush();
                printed = text.Length;
            }
        }
        var result = Generator.Generate(model.Transformer, ids, maxTokens, sampling, OnToken, cancellationToken);
        var final = tokenizer.Decode(result.Tokens);
        if (final.Length > printed)
        {
            output.Write(final[printed..]);
        }
        output.WriteLine();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{ids.Length} prompt tokens, {result.Tokens.Length} generated, stop: {result.StopReason}; first token {result.FirstTokenTime.TotalMilliseconds:F0} ms, decode {result.DecodeTokensPerSecond:F1} tokens/s]"));
        return Task.FromResult(CliApp.Ok);
    }
}
