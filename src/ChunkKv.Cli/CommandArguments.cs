namespace ChunkKv.Cli;

/// <summary>Leading positional words (e.g. <c>bench store</c>), then <c>--name value</c> pairs and bare <c>--flag</c>s.</summary>
public sealed class CommandArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly List<string> _positional = [];

    /// <summary>Words before the first option; commands that take none refuse them.</summary>
    public IReadOnlyList<string> Positional => _positional;

    public static CommandArguments Parse(IReadOnlyList<string> args)
    {
        var parsed = new CommandArguments();
        var i = 0;
        for (; i < args.Count && !args[i].StartsWith("--", StringComparison.Ordinal); i++)
        {
            parsed._positional.Add(args[i]);
        }
        for (; i < args.Count; i++)
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

    public int PositiveInteger(string name, int fallback) =>
        Optional(name) is not { } text ? fallback
        : int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0 ? value
        : throw new UsageException($"--{name} must be a positive integer, not '{text}'");

    public double PositiveNumber(string name, double fallback) =>
        Optional(name) is not { } text ? fallback
        : double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0 ? value
        : throw new UsageException($"--{name} must be a positive number, not '{text}'");

    public double NonNegativeNumber(string name, double fallback) =>
        Optional(name) is not { } text ? fallback
        : double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 0 ? value
        : throw new UsageException($"--{name} must be a number of 0 or more, not '{text}'");

    /// <summary>A comma-separated list of integers, e.g. <c>--ids 1,2,3</c>.</summary>
    public int[]? IntegerList(string name)
    {
        if (Optional(name) is not { } text)
        {
            return null;
        }
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], System.Globalization.CultureInfo.InvariantCulture, out values[i]))
            {
                throw new UsageException($"--{name} must be comma-separated integers; '{parts[i]}' is not one");
            }
        }
        return values.Length > 0 ? values : throw new UsageException($"--{name} is empty");
    }

    /// <summary>For commands that take no positional words.</summary>
    public CommandArguments WithoutPositional() =>
        _positional.Count == 0 ? this : throw new UsageException($"unexpected argument '{_positional[0]}'");
}
