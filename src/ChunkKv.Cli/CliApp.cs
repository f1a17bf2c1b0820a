using System.CommandLine;
using System.CommandLine.Invocation;
using ChunkKv.Cli.Commands;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Inference.Tokenization.Jinja;

namespace ChunkKv.Cli;

/// <summary>A verb of the <c>chunkkv</c> command, or a group of verbs (<c>bench</c>).</summary>
public interface ICommand
{
    string Name { get; }
    string Summary { get; }

    /// <summary>Every option the verb takes; any other is a usage error.</summary>
    IReadOnlyList<CliOption> Options { get; }

    /// <summary>The positional words it takes; null when it takes none (a stray word is a usage error).</summary>
    CliArgument? Arguments => null;

    /// <summary>The verbs under this one (<c>bench store</c>, ...); a group is never run itself.</summary>
    IReadOnlyList<ICommand> Subcommands => [];

    Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken);
}

/// <summary>
/// Parses <c>chunkkv VERB [ARGS] [--option value ...]</c> with System.CommandLine (help with
/// <c>--help</c> on every verb, shell completion through its <c>[suggest]</c> directive) and runs
/// the verb. Errors go to standard error. Exit codes: 0 ok, 1 failed, 2 bad usage.
/// </summary>
public static class CliApp
{
    public const int Ok = 0, Failed = 1, Usage = 2;

    private static readonly ICommand[] Commands = [
        new TokenizeCommand(), new ChatTemplateCommand(), new LogitsCommand(), new GenerateCommand(), new RandomModelCommand(),
        new MigrateCommand(), new IndexCommand(), new BenchCommand(), new FuseCommand(), new EvalCommand(), new CalibrateCommand(), new IngestCommand(), new AskCommand(), new HashKeyCommand(),
        new ServeCommand(),
    ];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error,
        CancellationToken cancellationToken = default)
    {
        var (root, verbs) = Build();
        if (args.Length == 0)
        {
            await root.Parse(["--help"]).InvokeAsync(new InvocationConfiguration { Output = error }, cancellationToken);
            return Usage;
        }
        if (!args[0].StartsWith('-') && !args[0].StartsWith('[') && Commands.All(c => c.Name != args[0]))
        {
            error.WriteLine($"chunkkv: unknown command '{args[0]}'");
            await root.Parse(["--help"]).InvokeAsync(new InvocationConfiguration { Output = error }, cancellationToken);
            return Usage;
        }
        var parsed = root.Parse(args);
        var name = string.Join(' ', Path(parsed.CommandResult));
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                error.WriteLine($"chunkkv{(name.Length > 0 ? " " + name : "")}: {problem.Message}");
            }
            error.WriteLine($"see 'chunkkv {(name.Length > 0 ? name + " " : "")}--help'");
            return Usage;
        }
        if (parsed.Action is not null)
        {
            // --help, or a directive such as [suggest]: System.CommandLine answers those itself.
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
        }
        var verb = verbs[parsed.CommandResult.Command];
        try
        {
            return await verb.Command.RunAsync(CommandArguments.From(parsed, verb.Options, verb.Arguments), output, cancellationToken);
        }
        catch (UsageException e)
        {
            error.WriteLine($"chunkkv {name}: {e.Message}");
            return Usage;
        }
        catch (Exception e) when (e is CommandFailedException or ModelFormatException or TokenizerFormatException or TemplateException)
        {
            error.WriteLine($"chunkkv {name}: {e.Message}");
            return Failed;
        }
    }

    private sealed record Verb(ICommand Command, List<(CliOption, Option)> Options, Argument? Arguments);

    private static (RootCommand Root, Dictionary<Command, Verb> Verbs) Build()
    {
        var root = new RootCommand("ChunkKv: a RAG chunk-cache store. Every verb has --help.") { HelpName = "chunkkv" };
        var verbs = new Dictionary<Command, Verb>();
        foreach (var command in Commands)
        {
            root.Subcommands.Add(Build(command, verbs));
        }
        return (root, verbs);
    }

    private static Command Build(ICommand command, Dictionary<Command, Verb> verbs)
    {
        var built = new Command(command.Name, command.Summary);
        foreach (var sub in command.Subcommands)
        {
            built.Subcommands.Add(Build(sub, verbs));
        }
        if (command.Subcommands.Count > 0)
        {
            return built; // a group: parsing it alone says a subcommand is required
        }
        var options = new List<(CliOption, Option)>();
        foreach (var spec in command.Options)
        {
            Option option = spec.IsFlag
                ? new Option<bool>("--" + spec.Name) { Description = spec.Description }
                : new Option<string>("--" + spec.Name) { Description = spec.Description, HelpName = spec.ValueName, Required = spec.Required };
            built.Options.Add(option);
            options.Add((spec, option));
        }
        Argument? arguments = null;
        if (command.Arguments is { } declared)
        {
            arguments = declared.Many
                ? new Argument<string[]>(declared.Name) { Description = declared.Description, Arity = ArgumentArity.OneOrMore }
                : new Argument<string>(declared.Name) { Description = declared.Description };
            built.Arguments.Add(arguments);
        }
        verbs[built] = new Verb(command, options, arguments);
        return built;
    }

    private static Stack<string> Path(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (var current = result; current is not null && current.Command is not RootCommand;
             current = current.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Push(current.Command.Name);
        }
        return names;
    }
}

/// <summary>The command line was wrong: exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The command ran and failed for a reason the user can act on: exit code 1.</summary>
public sealed class CommandFailedException(string message, Exception? inner = null) : Exception(message, inner);
