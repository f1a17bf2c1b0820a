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

    /// <summary>
    /// <c>y[r] = x · w[r]</c> for <paramref name="count"/> float32 weight rows of <paramref name="columns"/> from
    /// <paramref name="weights"/>, read as four streams: the rows split into quarters, one row of each quarter a step,
    /// each vector of x loaded once for the four. Four long sequential streams kept more of memory's reads in flight
    /// than one (a row at a time) or four short ones (four neighbouring rows a step, which restart every few KiB).
    /// </summary>
    /// <remarks>
    /// Measured on Qwen2.5-0.5B, two Zen 3 cores, medians of 15 alternating rounds in each run: its down projections
    /// a row at a time 30.2–31.8 GB/s, four neighbouring rows 33.5–34.4, four quarters level with those; its LM head
    /// 30.1–32.8 a row at a time, 33.0–34.0 with four neighbouring rows, 35.4–37.1 as four quarters. Decoding
    /// float32 weights is nothing but this stream.
    /// </remarks>
    internal static void RowDots(float* x, float* weights, int columns, int count, float* y, SimdWidth width)
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                RowDots<Vector512<float>, Lanes512>(x, weights, columns, count, y);
                break;
            case SimdWidth.Vector256:
                RowDots<Vector256<float>, Lanes256>(x, weights, columns, count, y);
                break;
            default:
                for (var r = 0; r < count; r++)
                {
                    y[r] = Dot(x, weights + (long)r * columns, columns, width);
                }
                break;
        }
    }

    private static void RowDots<TVector, TLanes>(float* x, float* weights, int columns, int count, float* y)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        ref var input = ref *x;
        var quarter = count / 4;
        var stride = (long)quarter * columns;
        for (var k = 0; k < quarter; k++)
        {
            var w0 = weights + (long)k * columns;
            float* w1 = w0 + stride, w2 = w1 + stride, w3 = w2 + stride;
            TVector a = TLanes.Splat(0f), b = TLanes.Splat(0f), c = TLanes.Splat(0f), d = TLanes.Splat(0f);
            var i = 0;
            for (; i <= columns - TLanes.Count; i += TLanes.Count)
            {
                var xv = TLanes.Load(ref input, (nuint)i);
                a = TLanes.MultiplyAdd(xv, TLanes.Load(ref *w0, (nuint)i), a);
                b = TLanes.MultiplyAdd(xv, TLanes.Load(ref *w1, (nuint)i), b);
                c = TLanes.MultiplyAdd(xv, TLanes.Load(ref *w2, (nuint)i), c);
                d = TLanes.MultiplyAdd(xv, TLanes.Load(ref *w3, (nuint)i), d);
            }
            var sums = TLanes.SumFour(a, b, c, d);
            float s0 = sums.GetElement(0), s1 = sums.GetElement(1), s2 = sums.GetElement(2), s3 = sums.GetElement(3);
            for (; i < columns; i++)
            {
                s0 += x[i] * w0[i];
                s1 += x[i] * w1[i];
                s2 += x[i] * w2[i];
                s3 += x[i] * w3[i];
            }
            (y[k], y[k + quarter], y[k + 2 * quarter], y[k + 3 * quarter]) = (s0, s1, s2, s3);
        }
        for (var r = 4 * quarter; r < count; r++)
        {
            y[r] = Dot<TVector, TLanes>(x, weights + (long)r * columns, columns);
        }
    }

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
