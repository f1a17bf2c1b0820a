namespace ChunkKv.Fusion;

/// <summary><c>prefix</c>: the prefix's cache reused, every chunk row computed (what vLLM's and SGLang's prefix caching give).</summary>
public sealed class PrefixMethod : FusionMethod
{
    public static PrefixMethod Instance { get; } = new();

    private PrefixMethod()
    {
    }

    public override string Name => "prefix";
    public override bool ReadsChunkCaches => false;

    internal static FusionMethod Parse(MethodArguments arguments) => arguments.Count == 0 ? Instance : throw arguments.Bad("prefix takes no parameters");

    internal override ActiveRows Run(FusionRun run) => run.RunFixed(run.ChunkSlots);
}
