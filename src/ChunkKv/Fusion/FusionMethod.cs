using System.Globalization;

namespace ChunkKv.Fusion;

public enum FusionKind
{
    Full,
    Prefix,
    Reuse,
    Epic,
    CacheBlend,
    KvLink,
    CacheCraft,
    Query,
}

/// <summary>Where reused chunk caches sit: moved to their place in the prompt, or left where they were computed (TurboRAG).</summary>
public enum ChunkPositions
{
    Reordered,
    Composite,
}

/// <summary>
/// A fusion method and its parameters, by the one name API, CLI, eval and bench share:
/// <c>full</c>, <c>prefix</c>, <c>reuse</c> / <c>reuse:composite</c>, <c>epic:k</c>, <c>cacheblend:r</c>
/// (<c>cacheblend:r:c</c> picks the check layer, <c>cacheblend:r:c:v</c> scores by values),
/// <c>kvlink</c> / <c>kvlink:k</c>, <c>cachecraft</c> / <c>cachecraft:r</c>, <c>query:r</c> (<c>query:r:k</c> anchors
/// the first k tokens of each chunk after the first within the same budget).
/// </summary>
public sealed record FusionMethod
{
    public const double DefaultRatio = 0.15;

    public required FusionKind Kind { get; init; }

    /// <summary>Share of chunk rows recomputed (cacheblend, cachecraft, query).</summary>
    public double Ratio { get; init; } = DefaultRatio;

    /// <summary>Tokens per chunk (epic: the first k; kvlink: the last k; query: the first k, anchored; 0: none).</summary>
    public int Tokens { get; init; }

    /// <summary>The layer at which CacheBlend and Cache-Craft measure deviation and choose rows.</summary>
    public int CheckLayer { get; init; } = 1;

    /// <summary>CacheBlend scores rows by value deviation instead of key deviation.</summary>
    public bool ScoreValues { get; init; }

    public ChunkPositions Positions { get; init; } = ChunkPositions.Reordered;

    public static FusionMethod Full { get; } = new() { Kind = FusionKind.Full };
    public static FusionMethod Reuse { get; } = new() { Kind = FusionKind.Reuse };
    public static FusionMethod CacheBlend { get; } = new() { Kind = FusionKind.CacheBlend };

    /// <summary>The canonical name (parses back to an equal method).</summary>
    public string Name => Kind switch
    {
        FusionKind.Full => "full",
        FusionKind.Prefix => "prefix",
        FusionKind.Reuse => Positions == ChunkPositions.Composite ? "reuse:composite" : "reuse",
        FusionKind.Epic => $"epic:{Tokens}",
        FusionKind.CacheBlend => $"cacheblend:{Number(Ratio)}" + (CheckLayer != 1 || ScoreValues ? $":{CheckLayer}" : "") + (ScoreValues ? ":v" : ""),
        FusionKind.KvLink => $"kvlink:{Tokens}",
        FusionKind.CacheCraft => $"cachecraft:{Number(Ratio)}",
        FusionKind.Query => $"query:{Number(Ratio)}" + (Tokens > 0 ? $":{Tokens}" : ""),
        _ => throw new InvalidOperationException(),
    };

    public override string ToString() => Name;

    /// <exception cref="FormatException">The name is not a method, or a parameter is out of range; the message says which.</exception>
    public static FusionMethod Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var parts = name.Trim().ToLowerInvariant().Split(':');
        var args = parts[1..];
        return parts[0] switch
        {
            "full" => NoArguments(Full),
            "prefix" => NoArguments(new FusionMethod { Kind = FusionKind.Prefix }),
            "reuse" => args switch
            {
                [] or ["reordered"] => Reuse,
                ["composite"] => new FusionMethod { Kind = FusionKind.Reuse, Positions = ChunkPositions.Composite },
                _ => throw Bad("reuse takes 'reordered' (default) or 'composite'"),
            },
            "epic" => new FusionMethod { Kind = FusionKind.Epic, Tokens = args.Length == 1 ? Count(args[0]) : throw Bad("epic takes the tokens per chunk: epic:16") },
            "kvlink" => new FusionMethod { Kind = FusionKind.KvLink, Tokens = args.Length switch { 0 => 1, 1 => Count(args[0]), _ => throw Bad("kvlink takes at most the link tokens per chunk: kvlink:1") } },
            "cacheblend" => args.Length switch
            {
                > 3 => throw Bad("cacheblend takes a ratio, a check layer and 'v': cacheblend:0.15:1:v"),
                _ => new FusionMethod
                {
                    Kind = FusionKind.CacheBlend,
                    Ratio = args.Length > 0 ? Share(args[0]) : DefaultRatio,
                    CheckLayer = args.Length > 1 ? Layer(args[1]) : 1,
                    ScoreValues = args.Length > 2 && (args[2] == "v" ? true : throw Bad("cacheblend's fourth part is 'v' (score values)")),
                },
            },
            "cachecraft" => new FusionMethod { Kind = FusionKind.CacheCraft, Ratio = args.Length switch { 0 => DefaultRatio, 1 => Share(args[0]), _ => throw Bad("cachecraft takes a ratio: cachecraft:0.15") } },
            "query" => args.Length switch
            {
                > 2 => throw Bad("query takes a ratio and anchored tokens per chunk: query:0.15 or query:0.15:8"),
                _ => new FusionMethod
                {
                    Kind = FusionKind.Query,
                    Ratio = args.Length > 0 ? Share(args[0]) : DefaultRatio,
                    Tokens = args.Length > 1 ? Count(args[1]) : 0,
                },
            },
            _ => throw Bad($"'{parts[0]}' is not a fusion method (full, prefix, reuse, epic:k, cacheblend:r, kvlink, cachecraft, query:r[:k])"),
        };

        FusionMethod NoArguments(FusionMethod method) => args.Length == 0 ? method : throw Bad($"{parts[0]} takes no parameters");
        FormatException Bad(string why) => new($"fusion method '{name}': {why}");
        int Count(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k is > 0 and <= 1_000_000
            ? k : throw Bad($"'{text}' is not a token count (a whole number from 1)");
        int Layer(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var layer)
            ? layer : throw Bad($"'{text}' is not a layer index");
        double Share(string text) => double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 1
            ? r : throw Bad($"'{text}' is not a ratio from 0 to 1");
    }

    /// <summary>Parses a comma-separated list of methods (the eval and bench option); it must name at least one.</summary>
    public static IReadOnlyList<FusionMethod> ParseList(string names)
    {
        var methods = names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToList();
        return methods.Count > 0 ? methods : throw new FormatException($"'{names}' names no fusion method");
    }

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
