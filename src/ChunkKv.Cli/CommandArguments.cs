namespace ChunkKv.Cli;

/// <summary><c>--name value</c> pairs and bare <c>--flag</c>s after the verb.</summary>
public sealed class CommandArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);

    public static CommandArguments Parse(IReadOnlyList<string> args)
    {
        var parsed = new CommandArguments();
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2)
            {
                throw new UsageException($"unexpected argument '{args[i]}'");
            }
            var name = args[i][2..];
            var hasValue = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            parsed._options[name] = hasValue ? args[++i] : null;
        }
        return parsed;
    }

    public bool Flag(string name) => _options.ContainsKey(name);

    public string? Optional(string name) => _options.GetValueOrDefault(name);

    public string Required(string name) =>
        Optional(name) ?? throw new UsageException($"--{name} is required");
}
