namespace ChunkKv.Fusion;

/// <summary>Choosing rows by score, shared by the strategies that select.</summary>
internal static class RowSelection
{
    /// <summary>The recompute budget of a ratio over <paramref name="rows"/> rows: <c>max(1, ⌊ratio·rows⌋)</c>.</summary>
    public static int Budget(double ratio, int rows) => rows == 0 ? 0 : Math.Clamp((int)Math.Floor(ratio * rows), 1, rows);

    /// <summary>The <paramref name="count"/> slots with the highest scores (ties to the lower slot), ascending.</summary>
    public static int[] Top(IReadOnlyList<int> slots, IReadOnlyList<double> scores, int count)
    {
        if (slots.Count != scores.Count)
        {
            throw new ArgumentException($"{slots.Count} slots but {scores.Count} scores");
        }
        return Enumerable.Range(0, slots.Count)
            .OrderByDescending(i => scores[i]).ThenBy(i => slots[i])
            .Take(count).Select(i => slots[i]).Order().ToArray();
    }
}
