namespace ChunkKv.Fusion;

/// <summary>
/// The methods whose recomputed rows are fixed by the prompt's layout: the same rows in every
/// layer, from their embeddings, together with the question.
/// </summary>
internal sealed class FixedRowStrategy(Func<FusionRun, IEnumerable<int>> contextRows) : IFusionStrategy
{
    /// <summary><c>full</c>: every row of the prompt; through this path it equals a plain prefill bit for bit.</summary>
    public static FixedRowStrategy Full { get; } = new(run => Enumerable.Range(0, run.Prompt.ContextLength));

    /// <summary><c>prefix</c>: the prefix's cache reused, every chunk row computed (prefix caching).</summary>
    public static FixedRowStrategy Prefix { get; } = new(run => run.ChunkSlots);

    /// <summary><c>reuse</c>: nothing but the question.</summary>
    public static FixedRowStrategy Reuse { get; } = new(_ => []);

    /// <summary><c>epic:k</c>: the first k tokens of each chunk after the first (EPIC's LegoLink: the chunk's attention sinks).</summary>
    public static FixedRowStrategy Epic { get; } = new(run => ChunkOpenings(run, run.Method.Tokens));

    /// <summary>
    /// <c>kvlink:k</c>: the last k tokens of each chunk after the first — its separator, which the layout
    /// puts at the chunk's end — recomputed as link tokens that see everything before them.
    /// </summary>
    public static FixedRowStrategy KvLink { get; } = new(run => Enumerable.Range(1, Math.Max(0, run.Prompt.Chunks.Count - 1))
        .SelectMany(chunk => run.SlotsOfChunk(chunk).TakeLast(run.Method.Tokens)));

    /// <summary>The first <paramref name="tokens"/> slots of each chunk after the first (the first chunk's cache is exact).</summary>
    public static IEnumerable<int> ChunkOpenings(FusionRun run, int tokens) =>
        Enumerable.Range(1, Math.Max(0, run.Prompt.Chunks.Count - 1)).SelectMany(chunk => run.SlotsOfChunk(chunk).Take(tokens));

    public ActiveRows Run(FusionRun run)
    {
        var rows = run.Start(run.WithQuestion(contextRows(run)));
        rows.Run(0, run.Layers);
        return rows;
    }
}
