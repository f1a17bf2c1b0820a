using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>The projections: one Linear, three ways to split it over the cores by its shape.</summary>
public static unsafe partial class Kernels
{
    /// <summary><c>y = x · Wᵀ (+ bias)</c>: x is <c>[rows, in]</c>, W is <c>[out, in]</c> (the Hugging Face layout), y is <c>[rows, out]</c>.</summary>
    public static void Linear(IGemm gemm, float* x, int rows, int inFeatures, float* weight, int outFeatures,
        float* bias, float* y)
    {
        if (rows <= FewRows)
        {
            FewRowsTogether(x, rows, [new Projection(new Matrix(weight, outFeatures, inFeatures), bias, y)]);
            return;
        }
        if (outFeatures < NarrowOutput)
        {
            LinearSplitByRows(gemm, x, rows, inFeatures, weight, outFeatures, bias, y);
            return;
        }
        // Splitting the output features keeps each thread on its own slice of the weights; each
        // adds its slice of the bias while that block of the output is still in its cache.
        Workers.ForRanges(outFeatures, 64, (start, count) =>
        {
            gemm.Sgemm(false, true, rows, count, inFeatures, 1f, x, inFeatures,
                weight + (long)start * inFeatures, inFeatures, 0f, y + start, outFeatures);
            AddBias(y, outFeatures, 0, rows, start, count, bias);
        });
    }

    /// <summary>
    /// Below this many output features (the K and V projections of grouped-query attention) a
    /// Linear splits its rows over the cores instead: two slices of 64 columns each made OpenBLAS
    /// pack the whole input twice for little work (305 against 410 GFLOP/s at 2048 × 896 → 128).
    /// </summary>
    public const int NarrowOutput = 512;

    private static void LinearSplitByRows(IGemm gemm, float* x, int rows, int inFeatures, float* weight, int outFeatures, float* bias, float* y)
    {
        Workers.ForRanges(rows, 16, (first, count) =>
        {
            gemm.Sgemm(false, true, count, outFeatures, inFeatures, 1f, x + (long)first * inFeatures, inFeatures,
                weight, inFeatures, 0f, y + (long)first * outFeatures, outFeatures);
            AddBias(y, outFeatures, first, count, 0, outFeatures, bias);
        });
    }

    /// <summary>Adds <c>bias[columns]</c> to the given rows and columns of <paramref name="y"/> (nothing when there is no bias).</summary>
    private static void AddBias(float* y, int outFeatures, int firstRow, int rowCount, int firstColumn, int columnCount, float* bias)
    {
        if (bias == null)
        {
            return;
        }
        var biasSlice = new ReadOnlySpan<float>(bias + firstColumn, columnCount);
        for (var r = firstRow; r < firstRow + rowCount; r++)
        {
            var row = new Span<float>(y + (long)r * outFeatures + firstColumn, columnCount);
            TensorPrimitives.Add(row, biasSlice, row);
        }
    }

    /// <summary>
    /// Up to this many rows (decoding, the LM head of a prefill) a Linear streams the weights through dot products
    /// instead of an sgemm: OpenBLAS packs the weights before multiplying, which for one row costs three times the
    /// plain stream (measured on the 545 MB LM head of Qwen2.5-0.5B: 29 ms against 9).
    /// </summary>
    public const int FewRows = 4;

    /// <summary>Σ a[i]·b[i] with two vector accumulators (TensorPrimitives.Dot keeps one and ran at 60 % of this).</summary>
    internal static float Dot(float* a, float* b, int length, SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => Dot<Vector512<float>, Lanes512>(a, b, length),
        SimdWidth.Vector256 => Dot<Vector256<float>, Lanes256>(a, b, length),
        _ => TensorPrimitives.Dot(new ReadOnlySpan<float>(a, length), new ReadOnlySpan<float>(b, length)),
    };

    private static float Dot<TVector, TLanes>(float* a, float* b, int length)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        ref var x = ref *a;
        ref var y = ref *b;
        var even = TLanes.Splat(0f);
        var odd = TLanes.Splat(0f);
        var i = 0;
        for (; i <= length - 2 * TLanes.Count; i += 2 * TLanes.Count)
        {
            even = TLanes.MultiplyAdd(TLanes.Load(ref x, (nuint)i), TLanes.Load(ref y, (nuint)i), even);
            var next = (nuint)(i + TLanes.Count);
            odd = TLanes.MultiplyAdd(TLanes.Load(ref x, next), TLanes.Load(ref y, next), odd);
        }
        var sum = TLanes.Sum(TLanes.Add(even, odd));
        for (; i < length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
