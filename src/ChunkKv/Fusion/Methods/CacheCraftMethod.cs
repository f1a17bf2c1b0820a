namespace ChunkKv.Fusion;

/// <summary>
/// <c>cachecraft:r</c> (Cache-Craft, SIGMOD'25): CacheBlend's selection with the budget spent per chunk
/// in proportion to how far the chunk's cache is from what its context makes of it, plus variants. A
/// chunk whose preceding chunks (and prefix) were seen before under this method is taken as it was
/// fused then, with no row of it recomputed; when every chunk after the first is such a variant (the
/// first is exact), only the question is computed. Each chunk fused anew is kept as a variant for next
/// time, in the fuser's <see cref="ChunkVariantCache"/> (without one it runs without variants).
/// </summary>
public sealed class CacheCraftMethod(double ratio) : FusionMethod
{
    public double Ratio { get; } = ratio is >= 0 and <= 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "a share from 0 to 1");

    public override string Name => $"cachecraft:{MethodArguments.Number(Ratio)}";

    internal static FusionMethod Parse(MethodArguments arguments) =>
        new CacheCraftMethod(arguments.AtMost(1, "cachecraft takes a ratio: cachecraft:0.15").Ratio(0, DefaultRatio));

    internal override ActiveRows Run(FusionRun run)
    {
        var prompt = run.Prompt;
        var variants = run.Variants;
        var keys = Enumerable.Range(0, prompt.Chunks.Count).Select(c => ChunkVariantCache.KeyOf(prompt, c, this)).ToArray();
        var fixedChunks = new HashSet<int>();
        for (var c = 1; c < prompt.Chunks.Count && variants is not null; c++)
        {
            if (variants.Find(keys[c]) is { } variant && variant.Tokens == prompt.Chunks[c].Length && variant.Positions[0] == prompt.ChunkStarts[c])
            {
                run.WaitForAllLayers(); // the variant goes over the stored K/V, so they must have landed
                for (var layer = 0; layer < run.Layers; layer++)
                {
                    run.Backend.WriteLayer(run.Sequence, layer, prompt.ChunkStarts[c], variant);
                }
                fixedChunks.Add(c);
            }
        }
        ActiveRows rows;
        if (fixedChunks.Count == prompt.Chunks.Count - 1)
        {
            rows = run.RunFixed([]);
        }
        else
        {
            rows = CacheBlendMethod.Blend(run, Ratio, checkLayer: 1, scoreValues: false, perChunkBudgets: true, fixedChunks);
        }
        for (var c = 1; c < prompt.Chunks.Count && variants is not null; c++)
        {
            if (!fixedChunks.Contains(c))
            {
                var (start, length) = (prompt.ChunkStarts[c], prompt.Chunks[c].Length);
                var recomputed = rows.Slots.Count(s => s >= start && s < start + length);
                variants.Add(keys[c], run.Backend.ReadSlots(run.Sequence, start, length), recomputed);
            }
        }
        return rows;
    }
}
