namespace ChunkKv.Inference.Tensors;

/// <summary>
/// The one pool the engine splits work over (OpenBLAS runs single-threaded inside each part):
/// the calling thread plus <see cref="Count"/> − 1 helpers that stay awake between steps (see
/// <see cref="WorkerPool"/>). <c>CHUNKKV_THREADS</c> overrides the core count;
/// <c>CHUNKKV_SPIN_MS</c> how long an idle helper spins before it sleeps (default 5 ms).
/// </summary>
public static class Workers
{
    private static readonly Lazy<WorkerPool?> Pool = new(() =>
        Count > 1 ? new WorkerPool(Count - 1, TimeSpan.FromMilliseconds(ReadPositive("CHUNKKV_SPIN_MS", 5))) : null);

    public static int Count { get; } = (int)ReadPositive("CHUNKKV_THREADS", Environment.ProcessorCount);

    /// <summary>Runs <paramref name="body"/> for each part in <c>[0, parts)</c> on up to <see cref="Count"/> threads; the first exception a part throws is rethrown.</summary>
    public static void For(int parts, Action<int> body)
    {
        if (parts <= 1 || Pool.Value is not { } pool || !pool.TryRun(parts, body))
        {
            for (var i = 0; i < parts; i++)
            {
                body(i);
            }
        }
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

    private static double ReadPositive(string variable, double fallback)
    {
        var configured = Environment.GetEnvironmentVariable(variable);
        return double.TryParse(configured, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
    }
}
