namespace ChunkKv.Fusion;

/// <summary>
/// <c>query:r[:k]</c>, question-aware selection (after A³ and ProphetKV): the question is run once over
/// the plain fused cache, and each chunk row is scored by the attention the question's rows pay it,
/// summed over rows, heads and layers. The top <c>max(1, ⌊r·N_c⌋)</c> rows are recomputed in every
/// layer, and the question again over them: the rows the answer reads are the ones repaired.
/// With k, the same budget goes first to the first k rows of each chunk after the first (EPIC's
/// anchors), the rest by attention: the question reads the plain fused cache, where a chunk-opening
/// pronoun's rows were computed without their antecedent, so it looks past them, and the anchors
/// catch them. The anchors are always kept: where they alone exceed the budget, they are all
/// recomputed and nothing else.
/// </summary>
public sealed class QueryMethod(double ratio, int anchors = 0) : FusionMethod
{
    public double Ratio { get; } = ratio is >= 0 and <= 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "a share from 0 to 1");

    /// <summary>Rows kept at the opening of each chunk after the first; 0: none.</summary>
    public int Anchors { get; } = anchors >= 0 ? anchors : throw new ArgumentOutOfRangeException(nameof(anchors), anchors, "0 or more");

    public override string Name => $"query:{MethodArguments.Number(Ratio)}" + (Anchors > 0 ? $":{Anchors}" : "");

    internal static FusionMethod Parse(MethodArguments arguments)
    {
        arguments.AtMost(2, "query takes a ratio and anchored tokens per chunk: query:0.15 or query:0.15:8");
        return new QueryMethod(arguments.Ratio(0, DefaultRatio), arguments.Tokens(1, 0));
    }

    internal override ActiveRows Run(FusionRun run)
    {
        var scores = new double[run.Prompt.ContextLength];
        var probe = run.Start(run.QuestionSlots);
        probe.Run(0, run.Layers, (layer, rows) => rows.AddAttentionTo(layer, run.Prompt.ContextLength, scores));
        var chunkSlots = run.ChunkSlots;
        var budget = RowSelection.Budget(Ratio, chunkSlots.Length);
        var anchors = run.ChunkOpenings(Anchors).ToHashSet();
        var candidates = chunkSlots.Where(s => !anchors.Contains(s)).ToArray();
        var chosen = RowSelection.Top(candidates, candidates.Select(s => scores[s]).ToArray(), Math.Max(0, budget - anchors.Count));
        return run.RunFixed(anchors.Concat(chosen));
    }
}
