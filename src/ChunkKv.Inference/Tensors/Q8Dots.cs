using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// Decoding's dot products over Q8 weights, as llama.cpp's Q8_0 does them: the activation row is
/// quantized once the same way (groups of 32, <c>d = max|x| / 127</c>, halves away from zero), each
/// group's products are summed exactly in integers, and the sum is scaled by both groups' scales.
/// Against widening the weights to float32 and multiplying float activations, a group costs a third
/// of the instructions (vpmaddubsw and vpmaddwd multiply and add 32 pairs in two), which is what
/// kept 8-bit decoding from reading memory as fast as float32 does; the activations' rounding (half
/// a step of their group) is the price, stated by the tests beside the weights' own.
/// </summary>
/// <remarks>
/// One kernel, on AVX2 (every AVX-512 machine runs it too, and decoding waits on memory, not on
/// vector width); elsewhere the scalar reference, which sums the same integers in the same groups.
/// </remarks>
public static unsafe class Q8Dots
{
    /// <summary>Quantizes <paramref name="n"/> activations into <c>Groups(n)</c> groups of 32 (the last padded with zeros).</summary>
    public static void QuantizeActivations(float* x, int n, sbyte* xq, float* xs)
    {
        var groups = Q8.Groups(n);
        Q8.Quantize(new ReadOnlySpan<float>(x, n), new Span<sbyte>(xq, n), new Span<float>(xs, groups));
        new Span<sbyte>(xq + n, groups * Q8.GroupSize - n).Clear();
    }

    /// <summary>Rows <c>[first, first + count)</c> of <paramref name="w"/> dotted with the quantized activations into <paramref name="y"/>.</summary>
    public static void Rows(sbyte* xq, float* xs, Matrix w, int first, int count, float* y, SimdWidth width)
    {
        var n = w.Columns;
        var groups = Q8.Groups(n);
        var vector = width != SimdWidth.Portable && Avx2.IsSupported;
        // Four streams, as Kernels.RowDots: one row of each quarter a step, then the rows left over.
        var quarter = vector ? count / 4 : 0;
        for (var k = 0; k < quarter; k++)
        {
            var row = first + k;
            var q = (sbyte*)w.Data + (long)row * n;
            var scales = w.Scales + (long)row * groups;
            var (sums, done) = Avx2FourStreams(xq, xs, q, scales, (long)quarter * n, (long)quarter * groups, n);
            for (var s = 0; s < 4; s++)
            {
                y[k + s * quarter] = Scalar(xq, xs, q + s * (long)quarter * n, scales + s * (long)quarter * groups, done, n, sums.GetElement(s));
            }
        }
        for (var r = 4 * quarter; r < count; r++)
        {
            var row = first + r;
            var q = (sbyte*)w.Data + (long)row * n;
            var scales = w.Scales + (long)row * groups;
            y[r] = vector ? Avx2Row(xq, xs, q, scales, n) : Scalar(xq, xs, q, scales, 0, n, 0f);
        }
    }

    private static float Avx2Row(sbyte* xq, float* xs, sbyte* q, float* ws, int n)
    {
        Vector256<float> even = default, odd = default;
        var g = 0;
        for (; (g + 2) * Q8.GroupSize <= n; g += 2)
        {
            var at = g * Q8.GroupSize;
            Sse.Prefetch0(q + at + WeightDots.PrefetchBytes); // see there: a cache line of weights an iteration
            even = Fma.MultiplyAdd(Group(xq + at, q + at), Vector256.Create(xs[g] * ws[g]), even);
            odd = Fma.MultiplyAdd(Group(xq + at + 32, q + at + 32), Vector256.Create(xs[g + 1] * ws[g + 1]), odd);
        }
        return Scalar(xq, xs, q, ws, g, n, Vector256.Sum(even + odd));
    }

    /// <summary>
    /// Rows <c>q</c>, <c>q + stride</c>, … (their scales <paramref name="scaleStride"/> apart) over their whole groups,
    /// and the first group not done: each group of activations loaded once, its magnitudes taken once, for the four.
    /// Four streams over the weights kept more reads in flight than one row at a time (see Kernels.RowDots).
    /// </summary>
    private static (Vector128<float> Sums, int Done) Avx2FourStreams(sbyte* xq, float* xs, sbyte* q, float* ws, long stride, long scaleStride, int n)
    {
        sbyte* q1 = q + stride, q2 = q1 + stride, q3 = q2 + stride;
        float* s1 = ws + scaleStride, s2 = s1 + scaleStride, s3 = s2 + scaleStride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var g = 0;
        for (; (g + 1) * Q8.GroupSize <= n; g++)
        {
            var at = g * Q8.GroupSize;
            Sse.Prefetch0(q + at + WeightDots.PrefetchBytes);
            Sse.Prefetch0(q1 + at + WeightDots.PrefetchBytes);
            Sse.Prefetch0(q2 + at + WeightDots.PrefetchBytes);
            Sse.Prefetch0(q3 + at + WeightDots.PrefetchBytes);
            var x = Vector256.Load(xq + at);
            var magnitudes = Avx2.Abs(x);
            var scale = xs[g];
            a0 = Fma.MultiplyAdd(Group(magnitudes, x, q + at), Vector256.Create(scale * ws[g]), a0);
            a1 = Fma.MultiplyAdd(Group(magnitudes, x, q1 + at), Vector256.Create(scale * s1[g]), a1);
            a2 = Fma.MultiplyAdd(Group(magnitudes, x, q2 + at), Vector256.Create(scale * s2[g]), a2);
            a3 = Fma.MultiplyAdd(Group(magnitudes, x, q3 + at), Vector256.Create(scale * s3[g]), a3);
        }
        return (Lanes256.SumFour(a0, a1, a2, a3), g);
    }

    /// <summary>One group's 32 products in eight int32 sums, as floats: |x| times w with x's sign (vpmaddubsw takes one unsigned side).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Group(sbyte* xq, sbyte* q)
    {
        var x = Vector256.Load(xq);
        return Group(Avx2.Abs(x), x, q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Group(Vector256<byte> magnitudes, Vector256<sbyte> x, sbyte* q)
    {
        var pairs = Avx2.MultiplyAddAdjacent(magnitudes, Avx2.Sign(Vector256.Load(q), x)); // |x|·w·sign(x): at most 2·127² per pair, no saturation
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
    }

    /// <summary>The reference, from group <paramref name="fromGroup"/>: each group's integer sum, scaled, added in order.</summary>
    private static float Scalar(sbyte* xq, float* xs, sbyte* q, float* ws, int fromGroup, int n, float sum)
    {
        for (var g = fromGroup; g * Q8.GroupSize < n; g++)
        {
            var group = 0;
            for (var i = g * Q8.GroupSize; i < Math.Min(n, (g + 1) * Q8.GroupSize); i++)
            {
                group += xq[i] * q[i];
            }
            sum += group * (xs[g] * ws[g]);
        }
        return sum;
    }
}
