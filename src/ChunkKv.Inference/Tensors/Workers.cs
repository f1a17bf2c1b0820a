namespace ChunkKv.Inference.Tensors;

/// <summary>
/// The one pool the engine splits work over (OpenBLAS runs single-threaded inside each part).
/// <c>CHUNKKV_THREADS</c> overrides the core count.
/// </summary>
public static class Workers
{
    public static int Count { get; } = ReadCount();

    /// <summary>Runs <paramref name="body"/> for each part in <c>[0, parts)</c> on up to <see cref="Count"/> threads.</summary>
    public static void For(int parts, Action<int> body)
    {
        if (parts <= 1 || Count == 1)
        {
            for (var i = 0; i < parts; i++)
            {
                body(i);
            }
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = Count }, body);
    }

    /// <summary>Splits <c>[0, length)</c> into at most <see cref="Count"/> ranges, each a multiple of <paramref name="grain"/> but the last.</summary>
    public static void ForRanges(int length, int grain, Action<int, int> body)
    {
        var perPart = (length + Count - 1) / Count;
        perPart = Math.Max(grain, (perPart + grain - 1) / grain * grain);
        var parts = (length + perPart - 1) / perPart;
        For(parts, part =>
        {
            var start = part * perPart;
            body(start, Math.Min(length, start + perPart) - start);
        });
    }

    private static int ReadCount()
    {
        var configured = Environment.GetEnvironmentVariable("CHUNKKV_THREADS");
        return int.TryParse(configured, out var threads) && threads > 0 ? threads : Environment.ProcessorCount;
    }
}
