using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tensors;

/// <summary>One projection of an input that several share: <c>output = x · Weightᵀ (+ Bias)</c>, output <c>[rows, Weight.Rows]</c>.</summary>
public readonly unsafe struct Projection(Matrix weight, float* bias, float* output)
{
    public Matrix Weight { get; } = weight;
    public float* Bias { get; } = bias;
    public float* Output { get; } = output;
}

/// <summary>Projections of one input run together: the K, V and Q of a decoded token, or its gate and up.</summary>
public static unsafe partial class Kernels
{
    /// <summary>
    /// Each projection of <paramref name="x"/> <c>[rows, Columns]</c>. For a few rows (decoding) their weight rows are
    /// streamed as one list split evenly over the cores in a single pass; a small matrix alone (the K and V of
    /// grouped-query attention, 128 rows) gave each core a short stream that the memory prefetchers never got up to
    /// speed on, and one more wait for the slower core. More rows run each projection as its own GEMM.
    /// </summary>
    /// <remarks>
    /// Measured at Qwen2.5-0.5B over all 24 layers, medians of 15 alternating rounds, two Zen 3 cores: K, V and Q
    /// 2.70 → 2.11 ms a token in bf16 and 4.30 → 3.95 in f32; gate and up 17.6 → 17.4 and 32.5 → 31.4.
    /// </remarks>
    public static void Linear(IGemm gemm, float* x, int rows, ReadOnlySpan<Projection> projections)
    {
        var columns = projections[0].Weight.Columns;
        var shared = true;
        foreach (var projection in projections)
        {
            shared &= projection.Weight.Columns == columns;
        }
        if (rows > FewRows || !shared)
        {
            foreach (var projection in projections)
            {
                Linear(gemm, x, rows, projection.Weight, projection.Bias, projection.Output);
            }
            return;
        }
        FewRowsTogether(x, rows, projections.ToArray());
    }

    /// <summary>
    /// The weight rows of every projection as one list, split evenly over the workers: each dots its share with every
    /// input row, by the stored type's decoding kernel (Q8's activations quantized once for all of them).
    /// </summary>
    private static void FewRowsTogether(float* x, int rows, Projection[] projections)
    {
        var columns = projections[0].Weight.Columns;
        var total = 0;
        var anyQ8 = false;
        foreach (var projection in projections)
        {
            total += projection.Weight.Rows;
            anyQ8 |= projection.Weight.Type == WeightType.Q8;
        }
        var groups = Q8.Groups(columns);
        var padded = groups * Q8.GroupSize;
        var quantized = stackalloc sbyte[anyQ8 ? rows * padded : 0];
        var scales = stackalloc float[anyQ8 ? rows * groups : 0];
        for (var r = 0; anyQ8 && r < rows; r++)
        {
            Q8Dots.QuantizeActivations(x + (long)r * columns, columns, quantized + r * padded, scales + r * groups);
        }
        var activations = new QuantizedActivations(quantized, scales, padded, groups);
        var width = Simd.Width;
        // Even halves of the whole list, not parts of a fixed size (896 rows in parts of 256 had gone 512 / 384 over two cores).
        Workers.ForRanges(total, 16, (start, count) =>
        {
            var offset = 0;
            foreach (var projection in projections)
            {
                var first = Math.Max(start, offset);
                var end = Math.Min(start + count, offset + projection.Weight.Rows);
                if (first < end)
                {
                    DotRows(x, rows, projection, first - offset, end - first, activations, width);
                }
                offset += projection.Weight.Rows;
            }
        });
    }

    /// <summary>How many bytes of weight rows the few-rows path dots with every input row before moving on (half a Zen core's L2).</summary>
    private const int BlockBytes = 256 * 1024;

    /// <summary>Rows <c>[first, first + count)</c> of one projection's weights dotted with every input row, bias added.</summary>
    private static void DotRows(float* x, int rows, Projection projection, int first, int count, QuantizedActivations activations, SimdWidth width)
    {
        var weight = projection.Weight;
        var inFeatures = weight.Columns;
        var outFeatures = weight.Rows;
        var y = projection.Output;
        // One input row streams its whole share; more read a block of weight rows at a time, small enough to stay
        // in the core's cache while every input row reads it.
        var block = rows == 1 ? count : (int)Math.Max(4, BlockBytes / Matrix.BytesOf(1, inFeatures, weight.Type) / 4 * 4);
        for (var start = first; start < first + count; start += block)
        {
            var blockRows = Math.Min(block, first + count - start);
            for (var r = 0; r < rows; r++)
            {
                var output = y + (long)r * outFeatures + start;
                switch (weight.Type)
                {
                    case WeightType.F32:
                        RowDots(x + (long)r * inFeatures, (float*)weight.Data + (long)start * inFeatures, inFeatures, blockRows, output, width);
                        break;
                    case WeightType.Q8:
                        Q8Dots.Rows(activations.Values + r * activations.Padded, activations.Scales + r * activations.Groups, weight, start, blockRows, output, width);
                        break;
                    default:
                        WeightDots.Rows(x + (long)r * inFeatures, weight, start, blockRows, output, width);
                        break;
                }
                AddBias(y, outFeatures, r, 1, start, blockRows, projection.Bias);
            }
        }
    }

    /// <summary>Each input row quantized for Q8's integer dot products: <c>Padded</c> values and <c>Groups</c> scales a row.</summary>
    private readonly struct QuantizedActivations(sbyte* values, float* scales, int padded, int groups)
    {
        public sbyte* Values { get; } = values;
        public float* Scales { get; } = scales;
        public int Padded { get; } = padded;
        public int Groups { get; } = groups;
    }
}
