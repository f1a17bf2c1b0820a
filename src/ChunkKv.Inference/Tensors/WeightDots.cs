using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// <c>x · w</c> for a float32 <c>x</c> and weight rows kept as bf16, f16 or Q8, widened to float32 in
/// registers as they stream in (never written out): the matrix-vector work of decoding, where reading
/// the weights is the cost, so fewer bytes a weight is proportionally faster. Each width's kernels are
/// written out with the x86 widening loads (vpmovzxwd, vpmovsxbd: one instruction for eight or sixteen
/// weights) and four independent sums; the scalar one is the reference the tests hold them to.
/// </summary>
/// <remarks>
/// Measured on the 896-column rows of Qwen2.5-0.5B, two Zen 3 cores: bf16 24 GB/s and Q8 20 GB/s of
/// weights (12 and 18 G weights/s, against float32's 7 at 28 GB/s). The same kernels written once over
/// a generic lanes interface ran at 9 G weights/s: the JIT did not inline the widening loads.
/// </remarks>
internal static unsafe class WeightDots
{
    private static readonly float TwoTo112 = MathF.ScaleB(1f, 112);

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
            case (WeightType.BF16, SimdWidth.Vector256):
                for (var r = 0; r < count; r++)
                {
                    y[r] = BFloat16x256(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.BF16, SimdWidth.Vector512):
                for (var r = 0; r < count; r++)
                {
                    y[r] = BFloat16x512(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.F16, SimdWidth.Vector256):
                for (var r = 0; r < count; r++)
                {
                    y[r] = Half256(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.F16, SimdWidth.Vector512):
                for (var r = 0; r < count; r++)
                {
                    y[r] = Half512(x, (ushort*)w.Data + start + (long)r * n, n);
                }
                break;
            case (WeightType.Q8, SimdWidth.Vector256):
                for (var r = 0; r < count; r++)
                {
                    y[r] = Q8x256(x, (sbyte*)w.Data + start + (long)r * n, w.Scales + (long)(first + r) * Q8.Groups(n), n);
                }
                break;
            case (WeightType.Q8, SimdWidth.Vector512):
                for (var r = 0; r < count; r++)
                {
                    y[r] = Q8x512(x, (sbyte*)w.Data + start + (long)r * n, w.Scales + (long)(first + r) * Q8.Groups(n), n);
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

    // bfloat16: the upper half of a float32, so widening is a shift.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> BFloat16x8(ushort* w) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BFloat16x16(ushort* w) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load(w)), 16).AsSingle();

    private static float BFloat16x256(float* x, ushort* w, int n)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 32; i += 32)
        {
            a = Fma.MultiplyAdd(Vector256.Load(x + i), BFloat16x8(w + i), a);
            b = Fma.MultiplyAdd(Vector256.Load(x + i + 8), BFloat16x8(w + i + 8), b);
            c = Fma.MultiplyAdd(Vector256.Load(x + i + 16), BFloat16x8(w + i + 16), c);
            d = Fma.MultiplyAdd(Vector256.Load(x + i + 24), BFloat16x8(w + i + 24), d);
        }
        return Tail(x, w, i, n, Vector256.Sum(a + b + (c + d)), WeightType.BF16);
    }

    private static float BFloat16x512(float* x, ushort* w, int n)
    {
        Vector512<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i <= n - 64; i += 64)
        {
            a = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), BFloat16x16(w + i), a);
            b = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), BFloat16x16(w + i + 16), b);
            c = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), BFloat16x16(w + i + 32), c);
            d = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), BFloat16x16(w + i + 48), d);
        }
        return Tail(x, w, i, n, Vector512.Sum(a + b + (c + d)), WeightType.BF16);
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
            a = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), Half16(w + i), a);
            b = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), Half16(w + i + 16), b);
            c = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), Half16(w + i + 32), c);
            d = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), Half16(w + i + 48), d);
        }
        return Tail(x, w, i, n, Vector512.Sum(a + b + (c + d)), WeightType.F16);
    }

    // Q8: each group's Σ x·q in float, then its scale; two groups at a time keep two scaled sums apart.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Int8x8(sbyte* q) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Int8x16(sbyte* q) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Group256(float* x, sbyte* q) =>
        Fma.MultiplyAdd(Vector256.Load(x), Int8x8(q), Vector256.Load(x + 8) * Int8x8(q + 8))
        + Fma.MultiplyAdd(Vector256.Load(x + 16), Int8x8(q + 16), Vector256.Load(x + 24) * Int8x8(q + 24));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Group512(float* x, sbyte* q) =>
        Avx512F.FusedMultiplyAdd(Vector512.Load(x), Int8x16(q), Vector512.Load(x + 16) * Int8x16(q + 16));

    private static float Q8x256(float* x, sbyte* q, float* scales, int n)
    {
        Vector256<float> even = default, odd = default;
        var g = 0;
        for (; (g + 2) * Q8.GroupSize <= n; g += 2)
        {
            var at = g * Q8.GroupSize;
            even = Fma.MultiplyAdd(Group256(x + at, q + at), Vector256.Create(scales[g]), even);
            odd = Fma.MultiplyAdd(Group256(x + at + 32, q + at + 32), Vector256.Create(scales[g + 1]), odd);
        }
        return Q8Tail(x, q, scales, g, n, Vector256.Sum(even + odd));
    }

    private static float Q8x512(float* x, sbyte* q, float* scales, int n)
    {
        Vector512<float> even = default, odd = default;
        var g = 0;
        for (; (g + 2) * Q8.GroupSize <= n; g += 2)
        {
            var at = g * Q8.GroupSize;
            even = Avx512F.FusedMultiplyAdd(Group512(x + at, q + at), Vector512.Create(scales[g]), even);
            odd = Avx512F.FusedMultiplyAdd(Group512(x + at + 32, q + at + 32), Vector512.Create(scales[g + 1]), odd);
        }
        return Q8Tail(x, q, scales, g, n, Vector512.Sum(even + odd));
    }

    private static float Tail(float* x, ushort* w, int from, int n, float sum, WeightType type)
    {
        for (var i = from; i < n; i++)
        {
            sum += x[i] * (type == WeightType.BF16 ? Numbers.FromBFloat16(w[i]) : (float)BitConverter.UInt16BitsToHalf(w[i]));
        }
        return sum;
    }

    private static float Q8Tail(float* x, sbyte* q, float* scales, int fromGroup, int n, float sum)
    {
        for (var g = fromGroup; g * Q8.GroupSize < n; g++)
        {
            var group = 0f;
            for (var i = g * Q8.GroupSize; i < Math.Min(n, (g + 1) * Q8.GroupSize); i++)
            {
                group += x[i] * q[i];
            }
            sum += group * scales[g];
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
            WeightType.Q8 => Q8Tail(x, (sbyte*)w.Data + offset, w.Scales + (long)row * Q8.Groups(n), 0, n, sum),
            _ => Kernels.Dot(x, (float*)w.Data + offset, n, SimdWidth.Portable),
        };
    }
}
