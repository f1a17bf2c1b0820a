using System.Globalization;

namespace ChunkKv.Fusion;

/// <summary>
/// A method's name split at ':' (<c>cacheblend:0.15:1:v</c> is <c>cacheblend</c> with 0.15, 1 and v),
/// with readers whose errors name the whole name and say what was expected.
/// </summary>
public sealed class MethodArguments
{
    private readonly string name;

    private MethodArguments(string name, string method, string[] values)
    {
        this.name = name;
        Method = method;
        Values = values;
    }

    /// <summary>The part before the first ':', lower case.</summary>
    public string Method { get; }

    /// <summary>The parts after it.</summary>
    public IReadOnlyList<string> Values { get; }

    public int Count => Values.Count;

    internal static MethodArguments Of(string name)
    {
        var parts = name.Trim().ToLowerInvariant().Split(':');
        return new MethodArguments(name, parts[0], parts[1..]);
    }

    public FormatException Bad(string why) => new($"fusion method '{name}': {why}");

    /// <summary>Throws unless there are at most <paramref name="most"/> values.</summary>
    public MethodArguments AtMost(int most, string usage) => Count <= most ? this : throw Bad(usage);

    /// <summary>A token count from 1, at value <paramref name="index"/>; <paramref name="fallback"/> when there is no such value.</summary>
    public int Tokens(int index, int fallback) =>
        index >= Count ? fallback
        : int.TryParse(Values[index], NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k is > 0 and <= 1_000_000 ? k
        : throw Bad($"'{Values[index]}' is not a token count (a whole number from 1)");

    /// <summary>A layer index, at value <paramref name="index"/>.</summary>
    public int Layer(int index, int fallback) =>
        index >= Count ? fallback
        : int.TryParse(Values[index], NumberStyles.None, CultureInfo.InvariantCulture, out var layer) ? layer
        : throw Bad($"'{Values[index]}' is not a layer index");

    /// <summary>A ratio from 0 to 1, at value <paramref name="index"/>.</summary>
    public double Ratio(int index, double fallback) =>
        index >= Count ? fallback
        : double.TryParse(Values[index], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 1 ? r
        : throw Bad($"'{Values[index]}' is not a ratio from 0 to 1");

    /// <summary>A number as names write it: <c>0.15</c>, never <c>0.150</c>.</summary>
    public static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
