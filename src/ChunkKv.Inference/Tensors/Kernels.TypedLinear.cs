using System.Runtime.InteropServices;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>The projections over weights of any <see cref="WeightType"/>.</summary>
public static unsafe partial class Kernels
{
    /// <summary>Bytes of float32 weights unpacked at a time for the GEMM (per worker): large enough that re-packing the input per tile costs well under 1 %.</summary>
    private const int UnpackedTileBytes = 4 << 20;

    [ThreadStatic] private static float* unpacked;
    [ThreadStatic] private static long unpackedCapacity;

    /// <summary><c>y = x · Wᵀ (+ bias)</c> for <paramref name="weight"/> kept as any type: x is <c>[rows, Columns]</c>, y is <c>[rows, Rows]</c>.</summary>
    /// <remarks>
    /// float32 weights go straight to <see cref="Linear(IGemm, float*, int, int, float*, int, float*, float*)"/>. For
    /// others, a few rows (decoding) stream the stored weights through dot products that widen them in
    /// registers, reading 2 or 1.125 bytes a weight instead of 4; more rows (a prefill) unpack tiles of
    /// weight rows to float32 and run the sgemm on each, the unpacking a small cost next to the multiply.
    /// </remarks>
    public static void Linear(IGemm gemm, float* x, int rows, Matrix weight, float* bias, float* y)
    {
        var inFeatures = weight.Columns;
        var outFeatures = weight.Rows;
        if (weight.Type == WeightType.F32)
        {
            Linear(gemm, x, rows, inFeatures, (float*)weight.Data, outFeatures, bias, y);
            return;
        }
        if (rows <= FewRows)
        {
            FewRowsTogether(x, rows, [new Projection(weight, bias, y)]);
            return;
        }
        var tileRows = Math.Max(16, UnpackedTileBytes / (inFeatures * sizeof(float)) / 16 * 16);
        Workers.ForRanges(outFeatures, 64, (start, count) =>
        {
            var tile = Unpacked((long)Math.Min(tileRows, count) * inFeatures);
            for (var first = start; first < start + count; first += tileRows)
            {
                var n = Math.Min(tileRows, start + count - first);
                WeightRows.ToSingle(weight, first, n, new Span<float>(tile, n * inFeatures));
                gemm.Sgemm(false, true, rows, n, inFeatures, 1f, x, inFeatures, tile, inFeatures, 0f, y + first, outFeatures);
                AddBias(y, outFeatures, 0, rows, first, n, bias);
            }
        });
    }

    /// <summary>This worker's buffer for unpacked weights, grown as needed and kept for the next call.</summary>
    private static float* Unpacked(long floats)
    {
        if (unpackedCapacity < floats)
        {
            NativeMemory.AlignedFree(unpacked);
            unpacked = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            unpackedCapacity = floats;
        }
        return unpacked;
    }
}
