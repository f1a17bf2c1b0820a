using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>Where reused chunk caches sit: moved to their place in the prompt, or left where they were computed (TurboRAG).</summary>
public enum ChunkPositions
{
    Reordered,
    Composite,
}

/// <summary>
/// A fusion method with its parameters, by the one name the API, CLI, eval and bench share
/// (<see cref="Name"/> parses back to an equal method). Each method is one type in its own file that
/// parses its parameters (<see cref="FusionMethods"/> registers it) and runs its schedule of rows
/// over the layers (<see cref="Run"/>). Two methods are equal when their names are.
/// </summary>
public abstract class FusionMethod : IEquatable<FusionMethod>
{
    /// <summary>Share of chunk rows the selecting methods recompute when their name gives none.</summary>
    public const double DefaultRatio = 0.15;

    public static FusionMethod Full => FullMethod.Instance;
    public static FusionMethod Reuse => ReuseMethod.Reordered;

    /// <summary><c>cacheblend:0.15</c>: what a query runs when it names no method.</summary>
    public static FusionMethod Default { get; } = new CacheBlendMethod(DefaultRatio);

    /// <summary>The canonical name, e.g. <c>cacheblend:0.15</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Reads the prefix's stored cache (every method but <c>full</c>).</summary>
    public virtual bool ReadsPrefixCache => true;

    /// <summary>Reads the chunks' stored caches (every method but <c>full</c> and <c>prefix</c>).</summary>
    public virtual bool ReadsChunkCaches => true;

    /// <summary>Whether a fusion with this method reads any stored cache.</summary>
    public bool ReadsCaches => ReadsPrefixCache || ReadsChunkCaches;

    /// <summary>Where the chunks' caches are put.</summary>
    public virtual ChunkPositions Positions => ChunkPositions.Reordered;

    /// <summary>Throws <see cref="ArgumentException"/> when the method cannot run on a model of this shape (a check layer beyond its layers).</summary>
    public virtual void CheckFits(ModelConfig config)
    {
    }

    /// <summary>The method's schedule of rows over the layers; returns the rows left after the last layer.</summary>
    internal abstract ActiveRows Run(FusionRun run);

    /// <exception cref="FormatException">The name is not a method, or a parameter is out of range; the message says which.</exception>
    public static FusionMethod Parse(string name) => FusionMethods.Parse(name);

    /// <summary>Parses a comma-separated list of methods (the eval and bench option); it must name at least one.</summary>
    /// <exception cref="FormatException">A name is not a method, or the list names none.</exception>
    public static IReadOnlyList<FusionMethod> ParseList(string names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var methods = names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToList();
        return methods.Count > 0 ? methods : throw new FormatException($"'{names}' names no fusion method");
    }

    public override string ToString() => Name;

    public bool Equals(FusionMethod? other) => other is not null && other.Name == Name;

    public override bool Equals(object? obj) => Equals(obj as FusionMethod);

    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);

    public static bool operator ==(FusionMethod? left, FusionMethod? right) => left?.Equals(right) ?? right is null;

    public static bool operator !=(FusionMethod? left, FusionMethod? right) => !(left == right);
}
