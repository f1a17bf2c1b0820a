namespace ChunkKv.Fusion;

/// <summary>
/// <c>cacheblend:r[:c[:v]]</c> (CacheBlend, EuroSys'25). Layers below the check layer c (default 1)
/// recompute every chunk row; at layer c every chunk row's fresh K (or V, with <c>v</c>) is written
/// into its slot and compared with the cached one, <c>Σ (fresh − cached)²</c> over KV heads and head
/// dimensions; the top <c>max(1, ⌊r·N_c⌋)</c> rows (ties to the lower slot) and the question are
/// computed from layer c's attention on.
/// </summary>
public sealed class CacheBlendMethod(double ratio, int checkLayer = 1, bool scoreValues = false) : FusionMethod
{
    public double Ratio { get; } = ratio is >= 0 and <= 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "a share from 0 to 1");

    /// <summary>The layer at which deviation is measured and rows chosen.</summary>
    public int CheckLayer { get; } = checkLayer >= 0 ? checkLayer : throw new ArgumentOutOfRangeException(nameof(checkLayer), checkLayer, "a layer index");

    /// <summary>Rows are scored by how far their values moved instead of their keys.</summary>
    public bool ScoreValues { get; } = scoreValues;

    public override string Name => $"cacheblend:{MethodArguments.Number(Ratio)}"
        + (CheckLayer != 1 || ScoreValues ? $":{CheckLayer}" : "") + (ScoreValues ? ":v" : "");

    internal static FusionMethod Parse(MethodArguments arguments)
    {
        arguments.AtMost(3, "cacheblend takes a ratio, a check layer and 'v': cacheblend:0.15:1:v");
        var scoreValues = arguments.Count > 2 && (arguments.Values[2] == "v" ? true : throw arguments.Bad("cacheblend's fourth part is 'v' (score values)"));
        return new CacheBlendMethod(arguments.Ratio(0, DefaultRatio), arguments.Layer(1, 1), scoreValues);
    }

    public override void CheckFits(Inference.Models.ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (CheckLayer >= config.Layers)
        {
            throw new ArgumentException($"{Name}: check layer {CheckLayer} is beyond the model's {config.Layers} layers");
        }
    }

    internal override ActiveRows Run(FusionRun run) => Blend(run, Ratio, CheckLayer, ScoreValues, perChunkBudgets: false, fixedChunks: new HashSet<int>());

    /// <summary>The schedule CacheBlend and Cache-Craft share; they differ in how the budget is spent.</summary>
    /// <param name="perChunkBudgets">Spend the budget per chunk in proportion to each chunk's total deviation (Cache-Craft).</param>
    /// <param name="fixedChunks">Chunks whose K/V in the sequence stay as they are (Cache-Craft's variants): none of their rows is a candidate.</param>
    internal static ActiveRows Blend(FusionRun run, double ratio, int checkLayer, bool scoreValues, bool perChunkBudgets, IReadOnlySet<int> fixedChunks)
    {
        if (checkLayer >= run.Layers)
        {
            throw new ArgumentException($"check layer {checkLayer} is beyond the model's {run.Layers} layers");
        }
        var prompt = run.Prompt;
        var candidates = Enumerable.Range(0, prompt.Chunks.Count).Where(c => !fixedChunks.Contains(c)).SelectMany(run.SlotsOfChunk).ToArray();
        var rows = run.Start(run.WithQuestion(candidates));
        rows.Run(0, checkLayer);
        // Every row's deviation at the check layer, its fresh K/V left in its slot; the question's rows are not candidates.
        var deviation = rows.ComputeKvDeviation(checkLayer, scoreValues);
        // Per chunk row (index: slot − |P|); the fixed chunks' rows keep 0 and are never chosen.
        var scores = new double[prompt.TotalChunkTokens];
        for (var i = 0; i < rows.Count && rows.Slots[i] < prompt.ContextLength; i++)
        {
            scores[rows.Slots[i] - prompt.Prefix.Length] = deviation[i];
        }
        var budget = RowSelection.Budget(ratio, candidates.Length);
        var keep = perChunkBudgets
            ? PerChunk(run, scores, budget, fixedChunks)
            : RowSelection.Top(candidates, candidates.Select(s => scores[s - prompt.Prefix.Length]).ToArray(), budget);
        rows.Keep(run.WithQuestion(keep));
        rows.Run(checkLayer, run.Layers);
        return rows;
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
