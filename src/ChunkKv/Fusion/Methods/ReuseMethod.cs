namespace ChunkKv.Fusion;

/// <summary>
/// <c>reuse</c>: nothing recomputed but the question (TurboRAG's inference side). <c>reuse:composite</c>
/// leaves each chunk at the positions it was computed at, with causality by slot order.
/// </summary>
public sealed class ReuseMethod : FusionMethod
{
    public static ReuseMethod Reordered { get; } = new(ChunkPositions.Reordered);
    public static ReuseMethod Composite { get; } = new(ChunkPositions.Composite);

    private ReuseMethod(ChunkPositions positions) => Positions = positions;

    public override ChunkPositions Positions { get; }

    public override string Name => Positions == ChunkPositions.Composite ? "reuse:composite" : "reuse";

    internal static FusionMethod Parse(MethodArguments arguments) => arguments.Values switch
    {
        [] or ["reordered"] => Reordered,
        ["composite"] => Composite,
        _ => throw arguments.Bad("reuse takes 'reordered' (default) or 'composite'"),
    };

    internal override ActiveRows Run(FusionRun run) => run.RunFixed([]);
}
