using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// <c>x · w</c> for a float32 <c>x</c> and weight rows kept as bf16 or f16 (Q8: <see cref="Q8Dots"/>), widened to float32 in
/// registers as they stream in (never written out): the matrix-vector work of decoding, where reading
/// the weights is the cost, so fewer bytes a weight is proportionally faster. Each width's kernels are
/// written out with the x86 widening loads (vpmovzxwd, vpmovsxbd: one instruction for eight or sixteen
/// weights) and four independent sums; the scalar one is the reference the tests hold them to.
/// </summary>
/// <remarks>
/// Measured on the LM head of Qwen2.5-0.5B (151 936 rows of 896), two Zen 3 cores, in one run: float32
/// 23.3 GB/s, bf16 21.4 GB/s with the even/odd split below (16–19 with vpmovzxwd widening), Q8 19.2 GB/s
/// with <see cref="Q8Dots"/> (12.5 widening the weights to float). The same kernels written once over a
/// generic lanes interface ran at half the speed: the JIT did not inline the widening loads.
/// </remarks>
internal static unsafe class WeightDots
{
    private static readonly float TwoTo112 = MathF.ScaleB(1f, 112);

    /// <summary>
    /// How far ahead of the loads the weights are prefetched, in bytes. Measured on the LM head of
    /// Qwen2.5-0.5B in 2 MiB pages (two Zen 3 cores, medians of 4–5 alternating rounds): bf16 26 → 30 GB/s and
    /// Q8 25 → 29 GB/s with 1 KiB (2–8 KiB did no better): level with float32's plain stream,
    /// which prefetching does not speed up. These kernels spend more instructions a byte than
    /// float32's, so the core's window reaches fewer bytes ahead and the hardware prefetcher alone lags.
    /// </summary>
    internal const int PrefetchBytes = 1024;

    /// <summary>Row <paramref name="row"/> of <paramref name="w"/> dotted with <paramref name="x"/>.</summary>
    public static float Dot(float* x, Matrix w, int row, SimdWidth width)
    {
        float result;
        Rows(x, w, row, 1, &result, width);
        return result;
    }

    /// <summary>Rows <c>[first, first + count)</c> of <paramref name="w"/> dotted with <paramref name="x"/> into <paramref name="y"/>.</summary>
    public static void Rows(float* x, Matrix w, int first, int count, float* y, SimdWidth width)
    {
        var n = w.Columns;
        var start = (long)first * n;
        // One loop per type and width, each calling one kernel: a switch per row measured 2× slower.
        switch (w.Type, width)
        {
            case (WeightType.BF16, SimdWidth.Vector256 or SimdWidth.Vector512):
                // x split into its even and odd elements once for all the rows (see BFloat16Pairs256).
                Span<float> halves = n <= 8192 ? stackalloc float[n / 2 * 2] : new float[n / 2 * 2];
                fixed (float* even = halves)
                {
                    var odd = even + n / 2;
                    for (var i = 0; i < n / 2; i++)
                    {
                        (even[i], odd[i]) = (x[2 * i], x[2 * i + 1]);
                    }
                    var done = width == SimdWidth.Vector512
                        ? FourStreams(&BFloat16FourStreams512, x, even, odd, (ushort*)w.Data + start, count, n, y, WeightType.BF16)
                        : FourStreams(&BFloat16FourStreams256, x, even, odd, (ushort*)w.Data + start, count, n, y, WeightType.BF16);
                    for (var r = done; r < count; r++)
                    {
                        var row = (ushort*)w.Data + start + (long)r * n;
                        y[r] = width == SimdWidth.Vector512 ? BFloat16Pairs512(x, even, odd, row, n) : BFloat16Pairs256(x, even, odd, row, n);
                    }
                }
                break;
            case (WeightType.F16, SimdWidth.Vector256):
                for (var r = FourStreams(&HalfFourStreams256, x, null, null, (ushort*)w.Data + start, count, n, y, WeightType.F16); r < count; r++)
                {
                    y[r] = Half256(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.F16, SimdWidth.Vector512):
                for (var r = FourStreams(&HalfFourStreams512, x, null, null, (ushort*)w.Data + start, count, n, y, WeightType.F16); r < count; r++)
                {
                    y[r] = Half512(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.Q8, _):
                // Q8 multiplies 8-bit activations (Q8Dots): the row's x is quantized once for all its rows.
                var groups = Q8.Groups(n);
                var quantized = new sbyte[groups * Q8.GroupSize];
                var scales = new float[groups];
                fixed (sbyte* xq = quantized)
                fixed (float* xs = scales)
                {
                    Q8Dots.QuantizeActivations(x, n, xq, xs);
                    Q8Dots.Rows(xq, xs, w, first, count, y, width);
                }
                break;
            default:
                for (var r = 0; r < count; r++)
                {
                    y[r] = Scalar(x, w, first + r, 0, 0f);
                }
                break;
        }
    }

    // bfloat16: the upper half of a float32. Read as 32-bit words, a pair of weights is an odd one already
    // in place (mask off the even) and an even one a shift away: two plain ALU operations widen 16
    // weights, against two shuffle-port widening loads (vpmovzxwd), which held decoding well under
    // the memory's speed. Each half then multiplies x's even or odd elements, split once per call.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> BFloat16x8(ushort* w) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w), 16).AsSingle();

    private static float BFloat16Pairs256(float* x, float* even, float* odd, ushort* w, int n)
    {
        var high = Vector256.Create(0xffff0000u);
        Vector256<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 32; i += 32)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            var first = Vector256.Load((uint*)(w + i));
            var second = Vector256.Load((uint*)(w + i + 16));
            a = Fma.MultiplyAdd(Vector256.Load(even + i / 2), Vector256.ShiftLeft(first, 16).AsSingle(), a);
            b = Fma.MultiplyAdd(Vector256.Load(odd + i / 2), (first & high).AsSingle(), b);
            c = Fma.MultiplyAdd(Vector256.Load(even + i / 2 + 8), Vector256.ShiftLeft(second, 16).AsSingle(), c);
            d = Fma.MultiplyAdd(Vector256.Load(odd + i / 2 + 8), (second & high).AsSingle(), d);
        }
        return Tail(x, w, i, n, Vector256.Sum(a + b + (c + d)), WeightType.BF16);
    }

    private static float BFloat16Pairs512(float* x, float* even, float* odd, ushort* w, int n)
    {
        var high = Vector512.Create(0xffff0000u);
        Vector512<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 64; i += 64)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes + 64);
            var first = Vector512.Load((uint*)(w + i));
            var second = Vector512.Load((uint*)(w + i + 32));
            a = Avx512F.FusedMultiplyAdd(Vector512.Load(even + i / 2), Vector512.ShiftLeft(first, 16).AsSingle(), a);
            b = Avx512F.FusedMultiplyAdd(Vector512.Load(odd + i / 2), (first & high).AsSingle(), b);
            c = Avx512F.FusedMultiplyAdd(Vector512.Load(even + i / 2 + 16), Vector512.ShiftLeft(second, 16).AsSingle(), c);
            d = Avx512F.FusedMultiplyAdd(Vector512.Load(odd + i / 2 + 16), (second & high).AsSingle(), d);
        }
        return Tail(x, w, i, n, Vector512.Sum(a + b + (c + d)), WeightType.BF16);
    }

    /// <summary>
    /// The rows read as four streams, as float32's <see cref="Kernels.RowDots"/>: split into quarters, one row of each
    /// quarter a step by <paramref name="kernel"/> (over the first <c>n / 32 · 32</c> columns; the tails added here).
    /// Returns how many rows are done: the ones past the last whole step are left to the caller's one-row kernel.
    /// </summary>
    private static int FourStreams(delegate*<float*, float*, float*, ushort*, long, int, Vector128<float>> kernel,
        float* x, float* even, float* odd, ushort* rows, int count, int n, float* y, WeightType type)
    {
        var quarter = count / 4;
        for (var k = 0; k < quarter; k++)
        {
            var sums = kernel(x, even, odd, rows + (long)k * n, (long)quarter * n, n);
            for (var s = 0; s < 4; s++)
            {
                y[k + s * quarter] = Tail(x, rows + (k + (long)s * quarter) * n, n / 32 * 32, n, sums.GetElement(s), type);
            }
        }
        return 4 * quarter;
    }

    /// <summary>
    /// Rows <c>w</c>, <c>w + stride</c>, <c>w + 2·stride</c> and <c>w + 3·stride</c> dotted with x over their first
    /// <c>n / 32 · 32</c> columns (the caller adds the tails): four streams, each pair of x's halves loaded once for
    /// the four. Measured on Qwen2.5-0.5B, two Zen 3 cores, medians of 15 alternating rounds in three runs: the LM head
    /// 31.5–33.8 GB/s a row at a time, 34.6–35.6 as four streams; the down projections 31.0–32.5 against 34.0–35.0.
    /// </summary>
    private static Vector128<float> BFloat16FourStreams256(float* x, float* even, float* odd, ushort* w, long stride, int n)
    {
        var high = Vector256.Create(0xffff0000u);
        ushort* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        var end = n / 32 * 32;
        for (var i = 0; i < end; i += 16)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w1 + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w2 + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w3 + i) + PrefetchBytes);
            var e = Vector256.Load(even + i / 2);
            var o = Vector256.Load(odd + i / 2);
            var p0 = Vector256.Load((uint*)(w + i));
            var p1 = Vector256.Load((uint*)(w1 + i));
            var p2 = Vector256.Load((uint*)(w2 + i));
            var p3 = Vector256.Load((uint*)(w3 + i));
            a0 = Fma.MultiplyAdd(e, Vector256.ShiftLeft(p0, 16).AsSingle(), a0);
            b0 = Fma.MultiplyAdd(o, (p0 & high).AsSingle(), b0);
            a1 = Fma.MultiplyAdd(e, Vector256.ShiftLeft(p1, 16).AsSingle(), a1);
            b1 = Fma.MultiplyAdd(o, (p1 & high).AsSingle(), b1);
            a2 = Fma.MultiplyAdd(e, Vector256.ShiftLeft(p2, 16).AsSingle(), a2);
            b2 = Fma.MultiplyAdd(o, (p2 & high).AsSingle(), b2);
            a3 = Fma.MultiplyAdd(e, Vector256.ShiftLeft(p3, 16).AsSingle(), a3);
            b3 = Fma.MultiplyAdd(o, (p3 & high).AsSingle(), b3);
        }
        return Lanes256.SumFour(a0 + b0, a1 + b1, a2 + b2, a3 + b3);
    }

    private static Vector128<float> BFloat16FourStreams512(float* x, float* even, float* odd, ushort* w, long stride, int n)
    {
        var high = Vector512.Create(0xffff0000u);
        ushort* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        var end = n / 32 * 32;
        for (var i = 0; i < end; i += 32)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w1 + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w2 + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w3 + i) + PrefetchBytes);
            var e = Vector512.Load(even + i / 2);
            var o = Vector512.Load(odd + i / 2);
            var p0 = Vector512.Load((uint*)(w + i));
            var p1 = Vector512.Load((uint*)(w1 + i));
            var p2 = Vector512.Load((uint*)(w2 + i));
            var p3 = Vector512.Load((uint*)(w3 + i));
            a0 = Avx512F.FusedMultiplyAdd(e, Vector512.ShiftLeft(p0, 16).AsSingle(), a0);
            b0 = Avx512F.FusedMultiplyAdd(o, (p0 & high).AsSingle(), b0);
            a1 = Avx512F.FusedMultiplyAdd(e, Vector512.ShiftLeft(p1, 16).AsSingle(), a1);
            b1 = Avx512F.FusedMultiplyAdd(o, (p1 & high).AsSingle(), b1);
            a2 = Avx512F.FusedMultiplyAdd(e, Vector512.ShiftLeft(p2, 16).AsSingle(), a2);
            b2 = Avx512F.FusedMultiplyAdd(o, (p2 & high).AsSingle(), b2);
            a3 = Avx512F.FusedMultiplyAdd(e, Vector512.ShiftLeft(p3, 16).AsSingle(), a3);
            b3 = Avx512F.FusedMultiplyAdd(o, (p3 & high).AsSingle(), b3);
        }
        return Lanes512.SumFour(a0 + b0, a1 + b1, a2 + b2, a3 + b3);
    }

    // float16: widened by rebiasing the exponent (a multiply by 2^112 also scales subnormals right);
    // infinities and NaNs (exponent all ones) keep an all-ones exponent.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Half8(ushort* w)
    {
        var h = Avx2.ConvertToVector256Int32(w).AsUInt32();
        var magnitude = h & Vector256.Create(0x7fffu);
        var shifted = Vector256.ShiftLeft(magnitude, 13);
        var value = shifted.AsSingle() * Vector256.Create(TwoTo112);
        var special = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7c00u));
        value = Vector256.ConditionalSelect(special.AsSingle(), (shifted | Vector256.Create(0x7f800000u)).AsSingle(), value);
        return (value.AsUInt32() | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Half16(ushort* w)
    {
        var h = Avx512F.ConvertToVector512Int32(Vector256.Load(w)).AsUInt32();
        var magnitude = h & Vector512.Create(0x7fffu);
        var shifted = Vector512.ShiftLeft(magnitude, 13);
        var value = shifted.AsSingle() * Vector512.Create(TwoTo112);
        var special = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7c00u));
        value = Vector512.ConditionalSelect(special.AsSingle(), (shifted | Vector512.Create(0x7f800000u)).AsSingle(), value);
        return (value.AsUInt32() | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    private static float Half256(float* x, ushort* w, int n)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 32; i += 32)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            a = Fma.MultiplyAdd(Vector256.Load(x + i), Half8(w + i), a);
            b = Fma.MultiplyAdd(Vector256.Load(x + i + 8), Half8(w + i + 8), b);
            c = Fma.MultiplyAdd(Vector256.Load(x + i + 16), Half8(w + i + 16), c);
            d = Fma.MultiplyAdd(Vector256.Load(x + i + 24), Half8(w + i + 24), d);
        }
        return Tail(x, w, i, n, Vector256.Sum(a + b + (c + d)), WeightType.F16);
    }

    private static float Half512(float* x, ushort* w, int n)
    {
        Vector512<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 64; i += 64)
        {
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
            Sse.Prefetch0((byte*)(w + i) + PrefetchBytes + 64);
            a = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), Half16(w + i), a);
            b = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), Half16(w + i + 16), b);
            c = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), Half16(w + i + 32), c);
            d = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), Half16(w + i + 48), d);
        }
        return Tail(x, w, i, n, Vector512.Sum(a + b + (c + d)), WeightType.F16);
    }

    /// <summary>Four float16 rows <paramref name="stride"/> apart over their first <c>n / 32 · 32</c> columns (see <see cref="FourStreams"/>).</summary>
    private static Vector128<float> HalfFourStreams256(float* x, float* even, float* odd, ushort* w, long stride, int n)
    {
        ushort* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var end = n / 32 * 32;
        for (var i = 0; i < end; i += 8)
        {
            if ((i & 31) == 0)
            {
                // A cache line of each row every fourth step.
                Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w1 + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w2 + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w3 + i) + PrefetchBytes);
            }
            var xv = Vector256.Load(x + i);
            a0 = Fma.MultiplyAdd(xv, Half8(w + i), a0);
            a1 = Fma.MultiplyAdd(xv, Half8(w1 + i), a1);
            a2 = Fma.MultiplyAdd(xv, Half8(w2 + i), a2);
            a3 = Fma.MultiplyAdd(xv, Half8(w3 + i), a3);
        }
        return Lanes256.SumFour(a0, a1, a2, a3);
    }

    private static Vector128<float> HalfFourStreams512(float* x, float* even, float* odd, ushort* w, long stride, int n)
    {
        ushort* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var end = n / 32 * 32;
        for (var i = 0; i < end; i += 16)
        {
            if ((i & 31) == 0)
            {
                Sse.Prefetch0((byte*)(w + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w1 + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w2 + i) + PrefetchBytes);
                Sse.Prefetch0((byte*)(w3 + i) + PrefetchBytes);
            }
            var xv = Vector512.Load(x + i);
            a0 = Avx512F.FusedMultiplyAdd(xv, Half16(w + i), a0);
            a1 = Avx512F.FusedMultiplyAdd(xv, Half16(w1 + i), a1);
            a2 = Avx512F.FusedMultiplyAdd(xv, Half16(w2 + i), a2);
            a3 = Avx512F.FusedMultiplyAdd(xv, Half16(w3 + i), a3);
        }
        return Lanes512.SumFour(a0, a1, a2, a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Int8x8(sbyte* q) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q));

    private static float Tail(float* x, ushort* w, int from, int n, float sum, WeightType type)
    {
        for (var i = from; i < n; i++)
        {
            sum += x[i] * (type == WeightType.BF16 ? Numbers.FromBFloat16(w[i]) : (float)BitConverter.UInt16BitsToHalf(w[i]));
        }
        return sum;
    }

    /// <summary>The reference: each weight widened by its definition, summed in order.</summary>
    private static float Scalar(float* x, Matrix w, int row, int from, float sum)
    {
        var n = w.Columns;
        var offset = (long)row * n;
        return w.Type switch
        {
            WeightType.BF16 or WeightType.F16 => Tail(x, (ushort*)w.Data + offset, from, n, sum, w.Type),
            _ => Kernels.Dot(x, (float*)w.Data + offset, n, SimdWidth.Portable),
        };
    }
}
