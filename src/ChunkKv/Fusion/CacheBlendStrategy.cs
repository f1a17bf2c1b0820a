namespace ChunkKv.Fusion;

/// <summary>
/// <c>cacheblend:r</c> (CacheBlend, EuroSys'25) and <c>cachecraft:r</c> (Cache-Craft, SIGMOD'25 — its
/// per-chunk budgets). Layers below the check layer c recompute every chunk row; at layer c every
/// chunk row's fresh K (or V) is written into its slot and compared with the cached one,
/// <c>Σ (fresh − cached)²</c> over KV heads and head dimensions; the chosen rows and the question
/// are computed from layer c's attention on. CacheBlend keeps the top <c>max(1, ⌊r·N_c⌋)</c> rows
/// of all chunks; Cache-Craft spends the same budget per chunk in proportion to how far the
/// chunk's cache is from what its context makes of it, then takes each chunk's top rows
/// (<see cref="CacheCraftStrategy"/> adds its variants).
/// </summary>
internal sealed class CacheBlendStrategy(bool perChunkBudgets) : IFusionStrategy
{
    public static CacheBlendStrategy CacheBlend { get; } = new(perChunkBudgets: false);
    public static CacheBlendStrategy CacheCraft { get; } = new(perChunkBudgets: true);

    public ActiveRows Run(FusionRun run) => Blend(run, fixedChunks: new HashSet<int>());

    /// <param name="fixedChunks">Chunks whose K/V in the sequence stay as they are (Cache-Craft's variants): none of their rows is a candidate.</param>
    internal ActiveRows Blend(FusionRun run, IReadOnlySet<int> fixedChunks)
    {
        var check = run.Method.CheckLayer;
        if (check >= run.Layers)
        {
            throw new ArgumentException($"check layer {check} is beyond the model's {run.Layers} layers");
        }
        var prompt = run.Prompt;
        var candidates = Enumerable.Range(0, prompt.Chunks.Count).Where(c => !fixedChunks.Contains(c)).SelectMany(run.SlotsOfChunk).ToArray();
        var rows = run.Start(run.WithQuestion(candidates));
        rows.Run(0, check);
        run.WaitForLayer(check);
        var cached = Section(run, check).ToArray();
        rows.ComputeKv(check);
        var fresh = Section(run, check);
        var width = run.Sequence.RowWidth;
        // Deviation of every chunk row (index: slot − |P|); the fixed chunks' rows keep 0 and are never chosen.
        var scores = new double[prompt.ChunkTokens];
        foreach (var slot in candidates)
        {
            var i = slot - prompt.Prefix.Length;
            double sum = 0;
            for (var j = i * width; j < (i + 1) * width; j++)
            {
                var d = (double)fresh[j] - cached[j];
                sum += d * d;
            }
            scores[i] = sum;
        }
        var budget = RowSelection.Budget(run.Method.Ratio, candidates.Length);
        var keep = perChunkBudgets
            ? PerChunk(run, scores, budget, fixedChunks)
            : RowSelection.Top(candidates, candidates.Select(s => scores[s - prompt.Prefix.Length]).ToArray(), budget);
        rows.Keep(run.WithQuestion(keep));
        rows.Run(check, run.Layers);
        return rows;
    }

    /// <summary>Layer <paramref name="layer"/>'s keys (or values) of every chunk slot, <c>[|P|, ContextLength)</c>, in place.</summary>
    private static Span<float> Section(FusionRun run, int layer)
    {
        var source = run.Method.ScoreValues ? run.Sequence.Values[layer] : run.Sequence.Keys[layer];
        return source.AsSpan(run.Prompt.Prefix.Length * run.Sequence.RowWidth, run.Prompt.ChunkTokens * run.Sequence.RowWidth);
    }

    /// <summary>The budget split over chunks by their total deviation, each chunk's top rows.</summary>
    private static int[] PerChunk(FusionRun run, double[] scores, int budget, IReadOnlySet<int> fixedChunks)
    {
        var prompt = run.Prompt;
        var offsets = prompt.ChunkStarts.Select(s => s - prompt.Prefix.Length).ToArray();
        var impact = Enumerable.Range(0, prompt.Chunks.Count)
            .Select(c => scores.AsSpan(offsets[c], prompt.Chunks[c].Length).ToArray().Sum()).ToArray();
        var budgets = Split(budget, impact, prompt.Chunks.Select((c, i) => fixedChunks.Contains(i) ? 0 : c.Length).ToArray());
        var keep = new List<int>();
        for (var c = 0; c < prompt.Chunks.Count; c++)
        {
            keep.AddRange(RowSelection.Top(run.SlotsOfChunk(c), scores.AsSpan(offsets[c], prompt.Chunks[c].Length).ToArray(), budgets[c]));
        }
        return [.. keep.Order()];
    }

    /// <summary>
    /// <paramref name="budget"/> rows split in proportion to <paramref name="weights"/>, none over its
    /// chunk's <paramref name="capacity"/> (what a full chunk cannot take goes to the others), rounded
    /// by largest remainders.
    /// </summary>
    internal static int[] Split(int budget, double[] weights, int[] capacity)
    {
        var shares = new double[weights.Length];
        var open = Enumerable.Range(0, weights.Length).Where(c => capacity[c] > 0).ToHashSet();
        double left = budget;
        while (open.Count > 0 && left > 0)
        {
            var total = open.Sum(c => weights[c]);
            var full = open.Where(c => Share(c) >= capacity[c]).ToList();
            if (full.Count == 0)
            {
                foreach (var c in open)
                {
                    shares[c] = Share(c);
                }
                break;
            }
            foreach (var c in full)
            {
                shares[c] = capacity[c];
                left -= capacity[c];
                open.Remove(c);
            }

            double Share(int c) => total > 0 ? left * weights[c] / total : left / open.Count;
        }
        var budgets = shares.Select(s => (int)Math.Floor(s + 1e-9)).ToArray();
        var order = Enumerable.Range(0, shares.Length).Where(c => budgets[c] < capacity[c])
            .OrderByDescending(c => shares[c] - budgets[c]).ThenBy(c => c).ToList();
        for (var i = 0; i < order.Count && budgets.Sum() < budget; i++)
        {
            budgets[order[i]]++;
        }
        return budgets;
    }
}
