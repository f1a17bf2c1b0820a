namespace ChunkKv.Fusion;

/// <summary><c>epic:k</c>: the first k tokens of each chunk after the first recomputed in every layer (EPIC's LegoLink: the chunk's attention sinks).</summary>
public sealed class EpicMethod(int tokens) : FusionMethod
{
    /// <summary>Tokens recomputed at the opening of each chunk after the first.</summary>
    public int Tokens { get; } = tokens > 0 ? tokens : throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "at least one token");

    public override string Name => $"epic:{Tokens}";

    internal static FusionMethod Parse(MethodArguments arguments) => arguments.Count == 1
        ? new EpicMethod(arguments.Tokens(0, 0))
        : throw arguments.Bad("epic takes the tokens per chunk: epic:16");

    internal override ActiveRows Run(FusionRun run) => run.RunFixed(run.ChunkOpenings(Tokens));
}
