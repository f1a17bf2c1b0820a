using System.Security.Cryptography;
using System.Text;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv hash-key KEY</c>: the SHA-256 (hex) a server's <c>ApiKeys:N:Sha256</c> setting stores for an API key.</summary>
public sealed class HashKeyCommand : ICommand
{
    public string Name => "hash-key";
    public string Summary => "print the SHA-256 of an API key, as the server's ApiKeys settings store it";

    public IReadOnlyList<CliOption> Options { get; } = [];

    public CliArgument Arguments { get; } = new("key", "the API key");

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var key = arguments.Positional.Count == 1 && arguments.Positional[0].Length > 0
            ? arguments.Positional[0]
            : throw new UsageException("give the key as one argument");
        output.WriteLine(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))));
        return Task.FromResult(CliApp.Ok);
    }
}
