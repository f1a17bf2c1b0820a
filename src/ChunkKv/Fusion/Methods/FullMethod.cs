namespace ChunkKv.Fusion;

/// <summary><c>full</c>: every row of the prompt computed; through the fusion path it equals a plain prefill bit for bit. Reads no cache.</summary>
public sealed class FullMethod : FusionMethod
{
    public static FullMethod Instance { get; } = new();

    private FullMethod()
    {
    }

    public override string Name => "full";
    public override bool ReadsPrefixCache => false;
    public override bool ReadsChunkCaches => false;

    internal static FusionMethod Parse(MethodArguments arguments) => arguments.Count == 0 ? Instance : throw arguments.Bad("full takes no parameters");

    internal override ActiveRows Run(FusionRun run) => run.RunFixed(Enumerable.Range(0, run.Prompt.ContextLength));
}
