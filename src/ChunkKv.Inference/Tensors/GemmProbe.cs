using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ChunkKv.Inference.Tensors;

/// <summary>Measures what a GEMM reaches on this machine, for benchmarks that report a ratio to it.</summary>
public static unsafe class GemmProbe
{
    /// <summary>
    /// Best GFLOP/s of <see cref="Kernels.Linear"/> (split over the workers as the engine runs it) for
    /// <c>[rows, inFeatures] × [outFeatures, inFeatures]ᵀ</c>, over about <paramref name="seconds"/>.
    /// </summary>
    public static double LinearGflops(IGemm gemm, int rows, int inFeatures, int outFeatures, double seconds = 1.5)
    {
        ArgumentNullException.ThrowIfNull(gemm);
        var x = (float*)NativeMemory.AlignedAlloc((nuint)((long)rows * inFeatures * 4), 64);
        var w = (float*)NativeMemory.AlignedAlloc((nuint)((long)outFeatures * inFeatures * 4), 64);
        var y = (float*)NativeMemory.AlignedAlloc((nuint)((long)rows * outFeatures * 4), 64);
        try
        {
            new Span<float>(x, rows * inFeatures).Fill(0.01f);
            new Span<float>(w, outFeatures * inFeatures).Fill(0.02f);
            Kernels.Linear(gemm, x, rows, inFeatures, w, outFeatures, null, y); // warm-up and first touch
            var flops = 2.0 * rows * inFeatures * outFeatures;
            var best = 0.0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                var start = clock.Elapsed.TotalSeconds;
                Kernels.Linear(gemm, x, rows, inFeatures, w, outFeatures, null, y);
                best = Math.Max(best, flops / (clock.Elapsed.TotalSeconds - start) / 1e9);
            }
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(x);
            NativeMemory.AlignedFree(w);
            NativeMemory.AlignedFree(y);
        }
    }
}
