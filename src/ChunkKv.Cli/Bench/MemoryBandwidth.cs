using System.Diagnostics;
using System.Numerics.Tensors;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// The machine's memory read bandwidth as decoding meets it: every worker summing its share of a
/// buffer far larger than the caches, the best of a few passes. Decoding reads each weight once per
/// token, so weight bytes over this is the fastest it can go.
/// </summary>
public static class MemoryBandwidth
{
    private const int Block = 4096;

    public static double ReadGbps(int megabytes = 1024, int passes = 4)
    {
        var buffer = GC.AllocateUninitializedArray<float>(megabytes * (1 << 20) / sizeof(float));
        buffer.AsSpan().Fill(1f); // first touch, outside the timing
        var blocks = buffer.Length / Block;
        var best = 0.0;
        var total = 0f;
        for (var pass = 0; pass < passes; pass++)
        {
            var clock = Stopwatch.StartNew();
            Workers.ForRanges(blocks, 16, (start, count) =>
            {
                var sum = TensorPrimitives.Sum(buffer.AsSpan(start * Block, count * Block));
                lock (buffer)
                {
                    total += sum; // used, so the reads cannot be optimised away
                }
            });
            best = Math.Max(best, (double)blocks * Block * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
        }
        return total > 0 ? best : throw new InvalidOperationException("the bandwidth probe summed nothing");
    }
}
