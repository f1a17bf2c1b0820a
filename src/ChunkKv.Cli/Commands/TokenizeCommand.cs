using System.Text.Json;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv tokenize --model DIR --text "..." [--no-special]</c>: the token ids as a JSON array.</summary>
public sealed class TokenizeCommand : ICommand
{
    public string Name => "tokenize";
    public string Summary => "print the token ids of --text for --model DIR (only tokenizer.json is needed)";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CliOption.RequiredValue("text", "TEXT", "the text to tokenize"),
        CliOption.Flag("no-special", "without the special tokens the tokenizer adds (BOS, ...)"),
    ];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var tokenizer = Tokenizer.FromDirectory(ModelArguments.Directory(arguments));
        var ids = tokenizer.Encode(arguments.Required("text"), addSpecialTokens: !arguments.Flag("no-special"));
        output.WriteLine(JsonSerializer.Serialize(ids));
        return Task.FromResult(CliApp.Ok);
    }
}
