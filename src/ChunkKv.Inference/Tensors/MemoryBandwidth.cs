using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// The machine's memory read bandwidth as decoding meets it: a buffer far larger than the caches, in the memory the
/// weights get (2 MiB pages where the kernel offers them), every worker summing its share as four streams, the best
/// of a few passes. Decoding reads each weight once a token, so weight bytes over this is the fastest it can go.
/// </summary>
/// <remarks>
/// A probe of one stream a core over 4 KiB pages read 32.6 GB/s on a 2-core Zen 3 where float32 decoding, four streams
/// a core over huge pages, read 45.6: its "limit" was then 1.4× too low to mean one. Like the kernels, the probe
/// reads each core's share as four sequential streams (see <see cref="Kernels.RowDots"/>).
/// </remarks>
public static unsafe class MemoryBandwidth
{
    private const int Block = 4096;

    public static double ReadGbps(int megabytes = 1024, int passes = 4)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(megabytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(passes);
        var length = checked(megabytes * (1 << 20) / sizeof(float));
        var buffer = (float*)HugePageMemory.Allocate((long)length * sizeof(float));
        try
        {
            new Span<float>(buffer, length).Fill(1f); // first touch, outside the timing
            var blocks = length / Block;
            var best = 0.0;
            var total = 0.0;
            var gate = new object();
            for (var pass = 0; pass < passes; pass++)
            {
                var clock = Stopwatch.StartNew();
                Workers.ForRanges(blocks, 16, (start, count) =>
                {
                    var sum = SumAsFourStreams(buffer + (long)start * Block, (long)count * Block);
                    lock (gate)
                    {
                        total += sum; // used, so the reads cannot be optimised away
                    }
                });
                best = Math.Max(best, (double)blocks * Block * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
            }
            return total > 0 ? best : throw new InvalidOperationException("the bandwidth probe summed nothing");
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>Σ of <paramref name="length"/> floats, read as four streams: its quarters side by side, then what is left over.</summary>
    internal static double SumAsFourStreams(float* data, long length)
    {
        var lanes = Vector<float>.Count;
        var quarter = length / 4 / lanes * lanes;
        Vector<float> a = default, b = default, c = default, d = default;
        for (long i = 0; i < quarter; i += lanes)
        {
            a += *(Vector<float>*)(data + i);
            b += *(Vector<float>*)(data + quarter + i);
            c += *(Vector<float>*)(data + 2 * quarter + i);
            d += *(Vector<float>*)(data + 3 * quarter + i);
        }
        double sum = Vector.Sum(a) + (double)Vector.Sum(b) + Vector.Sum(c) + Vector.Sum(d);
        for (var i = 4 * quarter; i < length; i++)
        {
            sum += data[i];
        }
        return sum;
    }
}
