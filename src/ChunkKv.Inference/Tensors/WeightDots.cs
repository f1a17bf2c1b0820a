using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// <c>x · w</c> for a float32 <c>x</c> and a weight row kept as bf16, f16 or Q8, widened to float32 in
/// registers as it streams in (never written out): the matrix-vector work of decoding, where reading
/// the weights is the cost, so fewer bytes a weight is proportionally faster. One kernel per vector
/// width, the scalar one the reference the tests hold them to.
/// </summary>
internal static unsafe class WeightDots
{
    public static float Dot(float* x, Matrix w, int row, SimdWidth width)
    {
        var n = w.Columns;
        var offset = (long)row * n;
        return (w.Type, width) switch
        {
            (WeightType.F32, _) => Kernels.Dot(x, (float*)w.Data + offset, n, width),
            (WeightType.BF16, SimdWidth.Vector512) => BFloat16x512(x, (ushort*)w.Data + offset, n),
            (WeightType.BF16, SimdWidth.Vector256) => BFloat16x256(x, (ushort*)w.Data + offset, n),
            (WeightType.BF16, _) => BFloat16Scalar(x, (ushort*)w.Data + offset, 0, n, 0f),
            (WeightType.F16, SimdWidth.Vector512) => Half512(x, (ushort*)w.Data + offset, n),
            (WeightType.F16, SimdWidth.Vector256) => Half256(x, (ushort*)w.Data + offset, n),
            (WeightType.F16, _) => HalfScalar(x, (ushort*)w.Data + offset, 0, n, 0f),
            (WeightType.Q8, SimdWidth.Vector512) => Q8x512(x, (sbyte*)w.Data + offset, w.Scales + (long)row * Q8.Groups(n), n),
            (WeightType.Q8, SimdWidth.Vector256) => Q8x256(x, (sbyte*)w.Data + offset, w.Scales + (long)row * Q8.Groups(n), n),
            _ => Q8Scalar(x, (sbyte*)w.Data + offset, w.Scales + (long)row * Q8.Groups(n), 0, n, 0f),
        };
    }

    // bfloat16: the upper half of a float32, so widening is a shift.

    private static float BFloat16x512(float* x, ushort* w, int n)
    {
        var (even, odd) = (Vector512<float>.Zero, Vector512<float>.Zero);
        var i = 0;
        for (; i <= n - 32; i += 32)
        {
            var (low, high) = Vector512.Widen(Vector512.Load(w + i));
            even = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.ShiftLeft(low, 16).AsSingle(), even);
            odd = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 16), Vector512.ShiftLeft(high, 16).AsSingle(), odd);
        }
        return BFloat16Scalar(x, w, i, n, Vector512.Sum(even + odd));
    }

    private static float BFloat16x256(float* x, ushort* w, int n)
    {
        var (even, odd) = (Vector256<float>.Zero, Vector256<float>.Zero);
        var i = 0;
        for (; i <= n - 16; i += 16)
        {
            var (low, high) = Vector256.Widen(Vector256.Load(w + i));
            even = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.ShiftLeft(low, 16).AsSingle(), even);
            odd = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.ShiftLeft(high, 16).AsSingle(), odd);
        }
        return BFloat16Scalar(x, w, i, n, Vector256.Sum(even + odd));
    }

    private static float BFloat16Scalar(float* x, ushort* w, int from, int n, float sum)
    {
        for (var i = from; i < n; i++)
        {
            sum += x[i] * Numbers.FromBFloat16(w[i]);
        }
        return sum;
    }

    private static readonly float TwoTo112 = MathF.ScaleB(1f, 112);

    // float16: widened by rebiasing the exponent (a multiply by 2^112 also scales subnormals right);
    // infinities and NaNs (exponent all ones) keep an all-ones exponent.

    private static float Half512(float* x, ushort* w, int n)
    {
        var (even, odd) = (Vector512<float>.Zero, Vector512<float>.Zero);
        var i = 0;
        for (; i <= n - 32; i += 32)
        {
            var (low, high) = Vector512.Widen(Vector512.Load(w + i));
            even = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Widen(low), even);
            odd = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 16), Widen(high), odd);
        }
        return HalfScalar(x, w, i, n, Vector512.Sum(even + odd));

        static Vector512<float> Widen(Vector512<uint> h)
        {
            var magnitude = h & Vector512.Create(0x7fffu);
            var shifted = Vector512.ShiftLeft(magnitude, 13);
            var value = shifted.AsSingle() * Vector512.Create(TwoTo112);
            var special = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7c00u));
            value = Vector512.ConditionalSelect(special.AsSingle(), (shifted | Vector512.Create(0x7f800000u)).AsSingle(), value);
            return (value.AsUInt32() | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
        }
    }

    private static float Half256(float* x, ushort* w, int n)
    {
        var (even, odd) = (Vector256<float>.Zero, Vector256<float>.Zero);
        var i = 0;
        for (; i <= n - 16; i += 16)
        {
            var (low, high) = Vector256.Widen(Vector256.Load(w + i));
            even = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Widen(low), even);
            odd = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Widen(high), odd);
        }
        return HalfScalar(x, w, i, n, Vector256.Sum(even + odd));

        static Vector256<float> Widen(Vector256<uint> h)
        {
            var magnitude = h & Vector256.Create(0x7fffu);
            var shifted = Vector256.ShiftLeft(magnitude, 13);
            var value = shifted.AsSingle() * Vector256.Create(TwoTo112);
            var special = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7c00u));
            value = Vector256.ConditionalSelect(special.AsSingle(), (shifted | Vector256.Create(0x7f800000u)).AsSingle(), value);
            return (value.AsUInt32() | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
        }
    }

    private static float HalfScalar(float* x, ushort* w, int from, int n, float sum)
    {
        for (var i = from; i < n; i++)
        {
            sum += x[i] * (float)BitConverter.UInt16BitsToHalf(w[i]);
        }
        return sum;
    }

    // Q8: each group of 32 integers dotted in float, then scaled once.

    private static float Q8x512(float* x, sbyte* q, float* scales, int n)
    {
        var total = Vector512<float>.Zero;
        var g = 0;
        for (; (g + 1) * Q8.GroupSize <= n; g++)
        {
            var at = g * Q8.GroupSize;
            var (low, high) = Vector256.Widen(Vector256.Load(q + at)); // 32 × int8 → 2 × 16 × int16
            var sum = Vector512.Load(x + at) * Vector512.ConvertToSingle(Vector512.WidenLower(Vector512.Create(low, high)));
            sum = Vector512.FusedMultiplyAdd(Vector512.Load(x + at + 16), Vector512.ConvertToSingle(Vector512.WidenUpper(Vector512.Create(low, high))), sum);
            total = Vector512.FusedMultiplyAdd(sum, Vector512.Create(scales[g]), total);
        }
        return Q8Scalar(x, q, scales, g * Q8.GroupSize, n, Vector512.Sum(total));
    }

    private static float Q8x256(float* x, sbyte* q, float* scales, int n)
    {
        var total = Vector256<float>.Zero;
        var g = 0;
        for (; (g + 1) * Q8.GroupSize <= n; g++)
        {
            var at = g * Q8.GroupSize;
            var (low, high) = Vector256.Widen(Vector256.Load(q + at)); // 32 × int8 → 2 × 16 × int16
            var (a, b) = Vector256.Widen(low);
            var (c, d) = Vector256.Widen(high);
            var sum = Vector256.Load(x + at) * Vector256.ConvertToSingle(a);
            sum = Vector256.FusedMultiplyAdd(Vector256.Load(x + at + 8), Vector256.ConvertToSingle(b), sum);
            sum = Vector256.FusedMultiplyAdd(Vector256.Load(x + at + 16), Vector256.ConvertToSingle(c), sum);
            sum = Vector256.FusedMultiplyAdd(Vector256.Load(x + at + 24), Vector256.ConvertToSingle(d), sum);
            total = Vector256.FusedMultiplyAdd(sum, Vector256.Create(scales[g]), total);
        }
        return Q8Scalar(x, q, scales, g * Q8.GroupSize, n, Vector256.Sum(total));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Q8Scalar(float* x, sbyte* q, float* scales, int from, int n, float sum)
    {
        for (var g = from / Q8.GroupSize; g * Q8.GroupSize < n; g++)
        {
            var group = 0f;
            for (var i = Math.Max(from, g * Q8.GroupSize); i < Math.Min(n, (g + 1) * Q8.GroupSize); i++)
            {
                group += x[i] * q[i];
            }
            sum += group * scales[g];
        }
        return sum;
    }
}
