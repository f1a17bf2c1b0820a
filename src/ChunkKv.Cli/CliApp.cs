using ChunkKv.Cli.Commands;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Cli;

/// <summary>A verb of the <c>chunkkv</c> command.</summary>
public interface ICommand
{
    string Name { get; }
    string Summary { get; }
    Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken);
}

/// <summary>Dispatches <c>chunkkv VERB [--option value ...]</c>. Exit codes: 0 ok, 1 failed, 2 bad usage.</summary>
public static class CliApp
{
    public const int Ok = 0, Failed = 1, Usage = 2;

    private static readonly ICommand[] Commands = [
        new TokenizeCommand(), new LogitsCommand(), new GenerateCommand(), new RandomModelCommand(),
        new MigrateCommand(), new BenchCommand(), new FuseCommand(), new EvalCommand(), new IngestCommand(), new AskCommand(), new HashKeyCommand(),
    ];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error,
        CancellationToken cancellationToken = default)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            WriteHelp(args.Length == 0 ? error : output);
            return args.Length == 0 ? Usage : Ok;
        }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            error.WriteLine($"chunkkv: unknown command '{args[0]}'");
            WriteHelp(error);
            return Usage;
        }
        try
        {
            return await command.RunAsync(CommandArguments.Parse(args[1..]), output, cancellationToken);
        }
        catch (UsageException e)
        {
            error.WriteLine($"chunkkv {command.Name}: {e.Message}");
            return Usage;
        }
        catch (Exception e) when (e is CommandFailedException or ModelFormatException or TokenizerFormatException)
        {
            error.WriteLine($"chunkkv {command.Name}: {e.Message}");
            return Failed;
        }
    }

    private static void WriteHelp(TextWriter writer)
    {
        writer.WriteLine("usage: chunkkv <command> [options]");
        writer.WriteLine();
        foreach (var command in Commands)
        {
            writer.WriteLine($"  {command.Name,-12} {command.Summary}");
        }
    }
}

/// <summary>The command line was wrong: exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The command ran and failed for a reason the user can act on: exit code 1.</summary>
public sealed class CommandFailedException(string message, Exception? inner = null) : Exception(message, inner);
