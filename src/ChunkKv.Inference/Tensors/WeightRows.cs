using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>Rows of a weight matrix of any <see cref="WeightType"/> as float32: embedding lookups and the GEMM's unpacked tiles.</summary>
public static unsafe class WeightRows
{
    /// <summary>Rows <c>[first, first + count)</c> of <paramref name="matrix"/> into <paramref name="destination"/> (<c>count × Columns</c> floats).</summary>
    public static void ToSingle(Matrix matrix, int first, int count, Span<float> destination)
    {
        var columns = matrix.Columns;
        var elements = (long)count * columns;
        var start = (long)first * columns;
        switch (matrix.Type)
        {
            case WeightType.F32:
                new ReadOnlySpan<float>((float*)matrix.Data + start, checked((int)elements)).CopyTo(destination);
                break;
            case WeightType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)matrix.Data + start, checked((int)elements)), destination);
                break;
            case WeightType.BF16:
                BFloat16ToSingle(new ReadOnlySpan<ushort>((ushort*)matrix.Data + start, checked((int)elements)), destination);
                break;
            default:
                var groups = Q8.Groups(columns);
                for (var r = 0; r < count; r++)
                {
                    var row = (long)(first + r);
                    DequantizeQ8(new ReadOnlySpan<sbyte>((sbyte*)matrix.Data + row * columns, columns),
                        new ReadOnlySpan<float>(matrix.Scales + row * groups, groups), destination.Slice(r * columns, columns));
                }
                break;
        }
    }

    /// <summary>bfloat16 is a float32's upper half: widening is a 16-bit shift, exact.</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        fixed (ushort* from = source)
        fixed (float* to = destination)
        {
            var i = 0;
            if (Simd.Width != SimdWidth.Portable)
            {
                for (; i <= source.Length - 8; i += 8)
                {
                    WeightDots.BFloat16x8(from + i).Store(to + i);
                }
            }
            for (; i < source.Length; i++)
            {
                to[i] = Numbers.FromBFloat16(from[i]);
            }
        }
    }

    /// <summary>A Q8 row back to floats, <c>d·q</c> per group.</summary>
    private static void DequantizeQ8(ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales, Span<float> row)
    {
        var g = 0;
        if (Simd.Width != SimdWidth.Portable)
        {
            fixed (sbyte* q = values)
            fixed (float* to = row)
            {
                for (; (g + 1) * Q8.GroupSize <= row.Length; g++)
                {
                    var scale = Vector256.Create(scales[g]);
                    for (var i = g * Q8.GroupSize; i < (g + 1) * Q8.GroupSize; i += 8)
                    {
                        (WeightDots.Int8x8(q + i) * scale).Store(to + i);
                    }
                }
            }
        }
        var from = g * Q8.GroupSize;
        Q8.Dequantize(values[from..], scales[g..], row[from..]);
    }
}
