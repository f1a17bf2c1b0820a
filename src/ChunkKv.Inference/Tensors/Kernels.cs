using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ChunkKv.Inference.Tensors;

/// <summary>The element-wise and row-wise operations of a Llama-family layer.</summary>
public static unsafe class Kernels
{
    /// <summary><c>y = x · Wᵀ (+ bias)</c>: x is <c>[rows, in]</c>, W is <c>[out, in]</c> (the Hugging Face layout), y is <c>[rows, out]</c>.</summary>
    public static void Linear(IGemm gemm, float* x, int rows, int inFeatures, float* weight, int outFeatures,
        float* bias, float* y)
    {
        if (rows <= FewRows)
        {
            LinearFewRows(x, rows, inFeatures, weight, outFeatures, bias, y);
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
            if (bias != null)
            {
                var biasSlice = new ReadOnlySpan<float>(bias + start, count);
                for (var r = 0; r < rows; r++)
                {
                    var row = new Span<float>(y + (long)r * outFeatures + start, count);
                    TensorPrimitives.Add(row, biasSlice, row);
                }
            }
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
            var output = y + (long)first * outFeatures;
            gemm.Sgemm(false, true, count, outFeatures, inFeatures, 1f, x + (long)first * inFeatures, inFeatures,
                weight, inFeatures, 0f, output, outFeatures);
            if (bias != null)
            {
                var biasRow = new ReadOnlySpan<float>(bias, outFeatures);
                for (var r = 0; r < count; r++)
                {
                    var row = new Span<float>(output + (long)r * outFeatures, outFeatures);
                    TensorPrimitives.Add(row, biasRow, row);
                }
            }
        });
    }

    /// <summary>Up to this many rows (decoding, the LM head of a prefill) a Linear streams the weights through dot products instead of an sgemm.</summary>
    public const int FewRows = 4;

    /// <summary>
    /// <see cref="Linear"/> for a few rows: each weight row is read once and dotted with every input
    /// row. OpenBLAS packs the weights before multiplying, which for one row costs three times the
    /// plain stream (measured on the 545 MB LM head of Qwen2.5-0.5B: 29 ms against 9).
    /// </summary>
    private static void LinearFewRows(float* x, int rows, int inFeatures, float* weight, int outFeatures, float* bias, float* y)
    {
        Workers.ForRanges(outFeatures, 256, (start, count) =>
        {
            for (var o = start; o < start + count; o++)
            {
                var weightRow = weight + (long)o * inFeatures;
                var offset = bias == null ? 0f : bias[o];
                for (var r = 0; r < rows; r++)
                {
                    y[(long)r * outFeatures + o] = Dot(x + (long)r * inFeatures, weightRow, inFeatures) + offset;
                }
            }
        });
    }

    /// <summary>Σ a[i]·b[i] with two Vector512 accumulators (TensorPrimitives.Dot keeps one and ran at 60 % of this).</summary>
    private static float Dot(float* a, float* b, int length)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            return TensorPrimitives.Dot(new ReadOnlySpan<float>(a, length), new ReadOnlySpan<float>(b, length));
        }
        var even = Vector512<float>.Zero;
        var odd = Vector512<float>.Zero;
        var i = 0;
        for (; i <= length - 2 * Vector512<float>.Count; i += 2 * Vector512<float>.Count)
        {
            even = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), even);
            odd = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + Vector512<float>.Count), Vector512.Load(b + i + Vector512<float>.Count), odd);
        }
        var sum = Vector512.Sum(even + odd);
        for (; i < length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }

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
    public static float Max(ReadOnlySpan<float> values)
    {
        if (!Vector512.IsHardwareAccelerated || values.Length < Vector512<float>.Count)
        {
            return values.IsEmpty ? float.NegativeInfinity : TensorPrimitives.Max(values);
        }
        ref var start = ref MemoryMarshal.GetReference(values);
        var max = Vector512.LoadUnsafe(ref start);
        var i = Vector512<float>.Count;
        for (; i <= values.Length - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            max = Vector512.MaxNative(max, Vector512.LoadUnsafe(ref start, (nuint)i));
        }
        // The last, partial vector overlaps ones already seen, which cannot change a maximum.
        max = Vector512.MaxNative(max, Vector512.LoadUnsafe(ref start, (nuint)(values.Length - Vector512<float>.Count)));
        var lanes = max.GetLower();
        lanes = Vector256.MaxNative(lanes, max.GetUpper());
        var quarter = Vector128.MaxNative(lanes.GetLower(), lanes.GetUpper());
        var result = quarter[0];
        for (var lane = 1; lane < Vector128<float>.Count; lane++)
        {
            result = MathF.Max(result, quarter[lane]);
        }
        return result;
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
}
