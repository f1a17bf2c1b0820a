namespace ChunkKv.Fusion;

/// <summary>
/// <c>kvlink:k</c> (default 1): the last k tokens of each chunk after the first — its separator, which
/// the layout puts at the chunk's end — recomputed in every layer as link tokens that see everything
/// before them (KVLink, training-free).
/// </summary>
public sealed class KvLinkMethod(int tokens) : FusionMethod
{
    /// <summary>Link tokens at the end of each chunk after the first.</summary>
    public int Tokens { get; } = tokens > 0 ? tokens : throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "at least one token");

    public override string Name => $"kvlink:{Tokens}";

    internal static FusionMethod Parse(MethodArguments arguments) =>
        new KvLinkMethod(arguments.AtMost(1, "kvlink takes at most the link tokens per chunk: kvlink:1").Tokens(0, 1));

    internal override ActiveRows Run(FusionRun run) => run.RunFixed(Enumerable.Range(1, Math.Max(0, run.Prompt.Chunks.Count - 1))
        .SelectMany(chunk => run.SlotsOfChunk(chunk).TakeLast(Tokens)));
}
