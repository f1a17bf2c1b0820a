using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ChunkKv.Inference.Tensors;

/// <summary>The element-wise and row-wise operations of a Llama-family layer.</summary>
public static unsafe partial class Kernels
{
    /// <summary>RMSNorm of each row of <paramref name="width"/> floats: <c>y = x / rms(x) * weight</c>.</summary>
    public static void RmsNorm(float* x, float* y, int rows, int width, float* weight, float epsilon)
    {
        Workers.ForRanges(rows, RowGrain(width), (first, count) =>
        {
            var w = new ReadOnlySpan<float>(weight, width);
            for (var r = first; r < first + count; r++)
            {
                var input = new ReadOnlySpan<float>(x + (long)r * width, width);
                var output = new Span<float>(y + (long)r * width, width);
                var sumOfSquares = TensorPrimitives.SumOfSquares(input);
                var scale = 1f / MathF.Sqrt(sumOfSquares / width + epsilon);
                TensorPrimitives.Multiply(input, scale, output);
                TensorPrimitives.Multiply(output, w, output);
            }
        });
    }

    /// <summary>Rows per part for row-wise work: enough that a part is worth handing to another core (about 16K floats).</summary>
    public static int RowGrain(int width) => Math.Max(1, (1 << 14) / Math.Max(1, width));

    /// <summary>SwiGLU in place: <c>gate = silu(gate) * up</c> over <paramref name="count"/> floats.</summary>
    public static void SiluMultiply(float* gate, float* up, long count)
    {
        const int Block = 1 << 14;
        var blocks = (int)((count + Block - 1) / Block);
        Workers.ForRanges(blocks, 1, (first, n) =>
        {
            var start = (long)first * Block;
            var length = (int)Math.Min((long)n * Block, count - start);
            Exponentials.SiluMultiply(new Span<float>(gate + start, length), new ReadOnlySpan<float>(up + start, length));
        });
    }

    /// <summary>
    /// The largest of <paramref name="values"/>, −∞ when empty. Plain vmaxps, at a third of
    /// <c>TensorPrimitives.Max</c>'s cost, which orders NaN and −0 by IEEE 754 rules that softmax's
    /// shift does not need (a NaN score still reaches the output through its exponential).
    /// </summary>
    public static float Max(ReadOnlySpan<float> values) => Max(values, Simd.Width);

    /// <summary><see cref="Max(ReadOnlySpan{float})"/> at a chosen width (the tests run each one the machine accelerates).</summary>
    public static float Max(ReadOnlySpan<float> values, SimdWidth width) => width switch
    {
        SimdWidth.Vector512 when values.Length >= Vector512<float>.Count => Max<Vector512<float>, Lanes512>(values),
        SimdWidth.Vector512 or SimdWidth.Vector256 when values.Length >= Vector256<float>.Count => Max<Vector256<float>, Lanes256>(values),
        _ => values.IsEmpty ? float.NegativeInfinity : TensorPrimitives.Max(values),
    };

    private static float Max<TVector, TLanes>(ReadOnlySpan<float> values)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        ref var start = ref MemoryMarshal.GetReference(values);
        var max = TLanes.Load(ref start, 0);
        var i = TLanes.Count;
        for (; i <= values.Length - TLanes.Count; i += TLanes.Count)
        {
            max = TLanes.MaxNative(max, TLanes.Load(ref start, (nuint)i));
        }
        // The last, partial vector overlaps ones already seen, which cannot change a maximum.
        max = TLanes.MaxNative(max, TLanes.Load(ref start, (nuint)(values.Length - TLanes.Count)));
        return TLanes.MaxAcross(max);
    }

    /// <summary><c>x += y</c> over <paramref name="count"/> floats.</summary>
    public static void AddInPlace(float* x, float* y, long count)
    {
        const int Block = 1 << 14;
        var blocks = (int)((count + Block - 1) / Block);
        Workers.ForRanges(blocks, 1, (first, n) =>
        {
            for (var block = first; block < first + n; block++)
            {
                var start = (long)block * Block;
                var length = (int)Math.Min(Block, count - start);
                var target = new Span<float>(x + start, length);
                TensorPrimitives.Add(target, new ReadOnlySpan<float>(y + start, length), target);
            }
        });
    }

    /// <summary><c>Σ (a − b)²</c> over <paramref name="count"/> floats, each difference and the sum in double.</summary>
    public static double SquaredDistance(float* a, float* b, int count)
    {
        double sum = 0;
        for (var i = 0; i < count; i++)
        {
            var d = (double)a[i] - b[i];
            sum += d * d;
        }
        return sum;
    }
}
