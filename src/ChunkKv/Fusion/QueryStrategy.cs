using System.Numerics.Tensors;

namespace ChunkKv.Fusion;

/// <summary>
/// <c>query:r</c>, question-aware selection (after A³ and ProphetKV): the question is run once over
/// the plain fused cache, and each chunk row is scored by the attention the question's rows pay it,
/// summed over rows, heads and layers. The top <c>max(1, ⌊r·N_c⌋)</c> rows are recomputed in every
/// layer, and the question again over them: the rows the answer reads are the ones repaired.
/// <c>query:r:k</c> spends the same budget on the first k rows of each chunk after the first (EPIC's
/// anchors) and the rest by attention. The question reads the plain fused cache, where a chunk-opening
/// pronoun's rows were computed without their antecedent: it looks past them, and the anchors catch them.
/// The anchors are always kept: where they alone exceed the budget, they are all recomputed and nothing else.
/// </summary>
internal sealed class QueryStrategy : IFusionStrategy
{
    public static QueryStrategy Instance { get; } = new();

    public ActiveRows Run(FusionRun run)
    {
        var scores = new double[run.Prompt.ContextLength];
        var probe = run.Start(run.QuestionSlots);
        probe.Run(0, run.Layers, (layer, rows) => AddAttention(run, layer, rows, scores));
        var chunkSlots = run.ChunkSlots;
        var budget = RowSelection.Budget(run.Method.Ratio, chunkSlots.Length);
        var anchors = FixedRowStrategy.ChunkOpenings(run, run.Method.Tokens).ToHashSet();
        var candidates = chunkSlots.Where(s => !anchors.Contains(s)).ToArray();
        var chosen = RowSelection.Top(candidates, candidates.Select(s => scores[s]).ToArray(), Math.Max(0, budget - anchors.Count));
        var rows = run.Start(run.WithQuestion(anchors.Concat(chosen)));
        rows.Run(0, run.Layers);
        return rows;
    }

    /// <summary>Adds, per context slot, the softmax attention of every question row and head at this layer (over the context).</summary>
    private static unsafe void AddAttention(FusionRun run, int layer, ActiveRows rows, double[] scores)
    {
        var c = run.Transformer.Config;
        var context = run.Prompt.ContextLength;
        var queries = new float[rows.Count * c.Heads * c.HeadDim];
        run.Transformer.Queries(layer, rows.Hidden, rows.Rows, queries);
        var logits = new float[rows.Count * context];
        var scale = 1f / MathF.Sqrt(c.HeadDim);
        fixed (float* q = queries)
        fixed (float* k = run.Sequence.Keys[layer])
        fixed (float* s = logits)
        {
            for (var head = 0; head < c.Heads; head++)
            {
                var kvHead = head / c.GroupSize;
                // [rows, context] = q_head [rows, headDim] · K_kvHead [context, headDim]ᵀ, both read in place.
                run.Transformer.Gemm.Sgemm(false, true, rows.Count, context, c.HeadDim, scale,
                    q + head * c.HeadDim, c.Heads * c.HeadDim, k + kvHead * c.HeadDim, c.KvHeads * c.HeadDim, 0f, s, context);
                for (var r = 0; r < rows.Count; r++)
                {
                    var row = logits.AsSpan(r * context, context);
                    TensorPrimitives.SoftMax(row, row);
                    for (var j = 0; j < context; j++)
                    {
                        scores[j] += row[j];
                    }
                }
            }
        }
    }
}
