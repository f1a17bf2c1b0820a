using System.CommandLine;
using System.Globalization;

namespace ChunkKv.Cli;

/// <summary>
/// What System.CommandLine parsed for one verb: its positional words and the options given (by
/// name, without the dashes), with typed readers whose errors name the option.
/// </summary>
public sealed class CommandArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly List<string> _positional = [];

    /// <summary>The verb's positional words (only verbs that declare <see cref="ICommand.Arguments"/> get any).</summary>
    public IReadOnlyList<string> Positional => _positional;

    internal static CommandArguments From(ParseResult parsed, IEnumerable<(CliOption Spec, Option Option)> options, Argument? arguments)
    {
        var result = new CommandArguments();
        foreach (var (spec, option) in options)
        {
            if (parsed.GetResult(option) is not { Implicit: false })
            {
                continue;
            }
            if (spec.IsFlag)
            {
                if (parsed.GetValue((Option<bool>)option))
                {
                    result._options[spec.Name] = null;
                }
            }
            else
            {
                result._options[spec.Name] = parsed.GetValue((Option<string>)option);
            }
        }
        switch (arguments)
        {
            case Argument<string[]> many:
                result._positional.AddRange(parsed.GetValue(many) ?? []);
                break;
            case Argument<string> one when parsed.GetValue(one) is { } value:
                result._positional.Add(value);
                break;
        }
        return result;
    }

    public bool Flag(string name) => _options.ContainsKey(name);

    public string? Optional(string name) => _options.GetValueOrDefault(name);

    public string Required(string name) =>
        Optional(name) ?? throw new UsageException($"--{name} is required");

    public int PositiveInteger(string name, int fallback) =>
        Optional(name) is not { } text ? fallback
        : int.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > 0 ? value
        : throw new UsageException($"--{name} must be a positive integer, not '{text}'");

    public double PositiveNumber(string name, double fallback) =>
        Optional(name) is not { } text ? fallback
        : double.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > 0 ? value
        : throw new UsageException($"--{name} must be a positive number, not '{text}'");

    public double NonNegativeNumber(string name, double fallback) =>
        Optional(name) is not { } text ? fallback
        : double.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= 0 ? value
        : throw new UsageException($"--{name} must be a number of 0 or more, not '{text}'");

    /// <summary>
    /// The option's value read by <paramref name="parse"/>, or <paramref name="fallback"/> when it is not
    /// given. Every parser in the library throws <see cref="FormatException"/> for bad text (the one parse
    /// contract): that is a usage error here, with the parser's message.
    /// </summary>
    public T Parsed<T>(string name, T fallback, Func<string, T> parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        if (Optional(name) is not { } text)
        {
            return fallback;
        }
        try
        {
            return parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--{name}: {e.Message}");
        }
    }

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
            if (!int.TryParse(parts[i], CultureInfo.InvariantCulture, out values[i]))
            {
                throw new UsageException($"--{name} must be comma-separated integers; '{parts[i]}' is not one");
            }
        }
        return values.Length > 0 ? values : throw new UsageException($"--{name} is empty");
    }
}
