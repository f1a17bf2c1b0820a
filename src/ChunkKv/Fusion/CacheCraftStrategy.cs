namespace ChunkKv.Fusion;

/// <summary>
/// <c>cachecraft:r</c> (Cache-Craft, SIGMOD'25): CacheBlend's selection with per-chunk budgets, plus
/// variants. A chunk whose preceding chunks (and prefix) were seen before under this method is taken
/// as it was fused then, with no row of it recomputed; when every chunk after the first is such a
/// variant (the first is exact), only the question is computed. Each chunk fused anew is kept as a
/// variant for next time.
/// </summary>
internal sealed class CacheCraftStrategy : IFusionStrategy
{
    public static CacheCraftStrategy Instance { get; } = new();

    public ActiveRows Run(FusionRun run)
    {
        var prompt = run.Prompt;
        var variants = run.Variants;
        var keys = Enumerable.Range(0, prompt.Chunks.Count).Select(c => ChunkVariantCache.KeyOf(prompt, c, run.Method)).ToArray();
        var fixedChunks = new HashSet<int>();
        for (var c = 1; c < prompt.Chunks.Count && variants is not null; c++)
        {
            if (variants.Find(keys[c]) is { } variant && variant.Tokens == prompt.Chunks[c].Length && variant.Positions[0] == prompt.ChunkStarts[c])
            {
                run.WaitForAllLayers(); // the variant goes over the stored K/V, so they must have landed
                for (var layer = 0; layer < run.Layers; layer++)
                {
                    variant.Keys[layer].CopyTo(run.Sequence.Keys[layer], prompt.ChunkStarts[c] * run.Sequence.RowWidth);
                    variant.Values[layer].CopyTo(run.Sequence.Values[layer], prompt.ChunkStarts[c] * run.Sequence.RowWidth);
                }
                fixedChunks.Add(c);
            }
        }
        ActiveRows rows;
        if (fixedChunks.Count == prompt.Chunks.Count - 1)
        {
            rows = run.Start(run.QuestionSlots);
            rows.Run(0, run.Layers);
        }
        else
        {
            rows = CacheBlendStrategy.CacheCraft.Blend(run, fixedChunks);
        }
        for (var c = 1; c < prompt.Chunks.Count && variants is not null; c++)
        {
            if (!fixedChunks.Contains(c))
            {
                var (start, length) = (prompt.ChunkStarts[c], prompt.Chunks[c].Length);
                var recomputed = rows.Slots.Count(s => s >= start && s < start + length);
                variants.Add(keys[c], run.Sequence.Slice(start, length), recomputed);
            }
        }
        return rows;
    }
}
