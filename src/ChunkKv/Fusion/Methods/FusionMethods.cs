namespace ChunkKv.Fusion;

/// <summary>
/// The registry of fusion methods by the first part of their name. Adding a method is one file (its
/// type, which parses and names its own parameters) and one line here.
/// </summary>
public static class FusionMethods
{
    private static readonly Dictionary<string, Func<MethodArguments, FusionMethod>> Parsers = new(StringComparer.Ordinal)
    {
        ["full"] = FullMethod.Parse,
        ["prefix"] = PrefixMethod.Parse,
        ["reuse"] = ReuseMethod.Parse,
        ["epic"] = EpicMethod.Parse,
        ["kvlink"] = KvLinkMethod.Parse,
        ["cacheblend"] = CacheBlendMethod.Parse,
        ["cachecraft"] = CacheCraftMethod.Parse,
        ["query"] = QueryMethod.Parse,
    };

    /// <summary>The methods' names with their parameters, as help and errors list them.</summary>
    public const string Usage = "full, prefix, reuse, epic:k, cacheblend:r, kvlink, cachecraft, query:r[:k]";

    /// <exception cref="FormatException">The name is not a method, or a parameter is out of range; the message says which.</exception>
    public static FusionMethod Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var arguments = MethodArguments.Of(name);
        return Parsers.TryGetValue(arguments.Method, out var parse)
            ? parse(arguments)
            : throw arguments.Bad($"'{arguments.Method}' is not a fusion method ({Usage})");
    }
}
