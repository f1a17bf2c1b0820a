using System.Runtime.InteropServices;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>
/// The kernels over 16-bit and 8-bit weights against double-precision sums of the weights' exact values
/// (widened here by their definitions, not by the library): the decoding dot products on every vector
/// path this machine runs, the prefill's unpack-and-sgemm, Q8's rounding bound in closed form, and
/// float16's subnormals, infinities and NaNs.
/// </summary>
public sealed unsafe class WeightKernelTests
{
    public static TheoryData<SimdWidth, WeightType, int> Cases()
    {
        var data = new TheoryData<SimdWidth, WeightType, int>();
        foreach (var width in Simd.Accelerated)
        {
            foreach (var type in new[] { WeightType.BF16, WeightType.F16, WeightType.Q8 })
            {
                foreach (var length in new[] { 1, 15, 31, 32, 33, 64, 75, 896 })
                {
                    data.Add(width, type, length);
                }
            }
        }
        return data;
    }

    /// <summary>A matrix kept as <paramref name="type"/>, and its exact values as doubles.</summary>
    private sealed class Weights : IDisposable
    {
        private readonly void* data;
        private readonly float* scales;

        public Weights(WeightType type, float[] values, int rows, int columns)
        {
            var groups = Q8.Groups(columns);
            data = NativeMemory.AlignedAlloc((nuint)Matrix.BytesOf(rows, columns, type), 64);
            scales = type == WeightType.Q8 ? (float*)NativeMemory.AlignedAlloc((nuint)(rows * groups * 4), 64) : null;
            Exact = new double[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                switch (type)
                {
                    case WeightType.F32:
                        ((float*)data)[i] = values[i];
                        Exact[i] = values[i];
                        break;
                    case WeightType.BF16:
                        var b = Numbers.ToBFloat16(values[i]);
                        ((ushort*)data)[i] = b;
                        Exact[i] = BitConverter.Int32BitsToSingle(b << 16);
                        break;
                    case WeightType.F16:
                        var h = (Half)values[i];
                        ((Half*)data)[i] = h;
                        Exact[i] = (double)h;
                        break;
                }
            }
            if (type == WeightType.Q8)
            {
                for (var r = 0; r < rows; r++)
                {
                    var q = new Span<sbyte>((sbyte*)data + r * columns, columns);
                    var d = new Span<float>(scales + r * groups, groups);
                    Q8.Quantize(values.AsSpan(r * columns, columns), q, d);
                    for (var c = 0; c < columns; c++)
                    {
                        Exact[r * columns + c] = (double)q[c] * d[c / Q8.GroupSize];
                    }
                }
            }
            Matrix = new Matrix(data, rows, columns, type, scales);
        }

        public Matrix Matrix { get; }
        public double[] Exact { get; }

        public void Dispose()
        {
            NativeMemory.AlignedFree(data);
            NativeMemory.AlignedFree(scales);
        }
    }

    /// <summary>
    /// The activations as a Q8 dot product reads them (decoding quantizes them as Q8_0 does), by the definition:
    /// per group of 32, <c>d = max|x| / 127</c> and <c>round(x / d)</c>, halves away from zero. Other types read x as it is.
    /// </summary>
    private static double[] ActivationsAsRead(WeightType type, float[] x, int offset, int length)
    {
        var read = x.Skip(offset).Take(length).Select(v => (double)v).ToArray();
        if (type != WeightType.Q8)
        {
            return read;
        }
        for (var start = 0; start < length; start += 32)
        {
            var group = x.Skip(offset + start).Take(Math.Min(32, length - start)).ToArray();
            var step = group.Max(Math.Abs) / 127f;
            for (var i = 0; i < group.Length; i++)
            {
                read[start + i] = step == 0 ? 0 : step * Math.Round(group[i] / (double)step, MidpointRounding.AwayFromZero);
            }
        }
        return read;
    }

    private static float[] RandomValues(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_dot_product_over_stored_weights_equals_the_exact_sum(SimdWidth width, WeightType type, int length)
    {
        const int rows = 11; // bf16's four streams: two steps over its quarters, and three rows left over
        var x = RandomValues(length, length);
        using var weights = new Weights(type, RandomValues(rows * length, length + 1), rows, length);
        var y = new float[rows];
        var read = ActivationsAsRead(type, x, 0, length);
        fixed (float* xp = x, yp = y)
        {
            WeightDots.Rows(xp, weights.Matrix, 0, rows, yp, width);
            for (var r = 0; r < rows; r++)
            {
                double expected = 0, magnitude = 0;
                for (var i = 0; i < length; i++)
                {
                    expected += read[i] * weights.Exact[r * length + i];
                    magnitude += Math.Abs(read[i] * weights.Exact[r * length + i]);
                }
                // float32 accumulation: a few ulps of the sum of magnitudes, in a batch of rows and alone (summed in another order).
                var bound = 1e-6 * magnitude + 1e-7;
                Assert.InRange(Math.Abs(y[r] - expected), 0, bound);
                Assert.InRange(Math.Abs(WeightDots.Dot(xp, weights.Matrix, r, width) - expected), 0, bound);
            }
        }
    }

    public static TheoryData<SimdWidth, int> Q8Cases()
    {
        var data = new TheoryData<SimdWidth, int>();
        foreach (var (width, _, length) in Cases().Select(c => ((SimdWidth)c[0], (WeightType)c[1], (int)c[2])).Where(c => c.Item2 == WeightType.Q8))
        {
            data.Add(width, length);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Q8Cases))]
    public void Decoding_over_Q8_rounds_the_activations_by_at_most_half_their_groups_step(SimdWidth width, int length)
    {
        const WeightType type = WeightType.Q8;
        var x = RandomValues(length, length + 7);
        using var weights = new Weights(type, RandomValues(length, length + 8), 1, length);
        float y;
        fixed (float* xp = x)
        {
            WeightDots.Rows(xp, weights.Matrix, 0, 1, &y, width);
        }
        // Against float activations: each x moves by at most half its group's step, so the dot by at most Σ |w| · step / 2.
        double exact = 0, bound = 0;
        for (var i = 0; i < length; i++)
        {
            exact += x[i] * weights.Exact[i];
            var group = x.Skip(i / 32 * 32).Take(Math.Min(32, length - i / 32 * 32));
            bound += Math.Abs(weights.Exact[i]) * group.Max(Math.Abs) / 127 / 2;
        }
        Assert.InRange(Math.Abs(y - exact), 0, bound * (1 + 1e-5) + 1e-6);
    }

    [Theory]
    [InlineData(WeightType.BF16, 1)]
    [InlineData(WeightType.F16, Kernels.FewRows)]
    [InlineData(WeightType.Q8, 1)]
    [InlineData(WeightType.Q8, Kernels.FewRows)]
    [InlineData(WeightType.Q8, Kernels.FewRows + 1)]
    [InlineData(WeightType.BF16, 40)]
    [InlineData(WeightType.Q8, 40)]
    [InlineData(WeightType.F16, 40)]
    public void Linear_over_stored_weights_matches_a_double_loop_for_decoding_and_prefill(WeightType type, int rows)
    {
        const int inFeatures = 96, outFeatures = 700; // several unpacked tiles' worth of rows over the workers
        var x = RandomValues(rows * inFeatures, rows);
        var bias = RandomValues(outFeatures, 3);
        using var weights = new Weights(type, RandomValues(outFeatures * inFeatures, 4), outFeatures, inFeatures);
        var y = new float[rows * outFeatures];
        fixed (float* xp = x, bp = bias, yp = y)
        {
            Kernels.Linear(Gemm.Default, xp, rows, weights.Matrix, bp, yp);
        }
        for (var r = 0; r < rows; r++)
        {
            // Decoding (a few rows) reads Q8's activations quantized; a prefill unpacks the weights for the sgemm and reads x as it is.
            var read = ActivationsAsRead(rows <= Kernels.FewRows ? type : WeightType.F32, x, r * inFeatures, inFeatures);
            for (var o = 0; o < outFeatures; o++)
            {
                double expected = bias[o];
                for (var i = 0; i < inFeatures; i++)
                {
                    expected += read[i] * weights.Exact[o * inFeatures + i];
                }
                Assert.InRange(Math.Abs(y[r * outFeatures + o] - expected), 0, 1e-5);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(Kernels.FewRows)]
    public void Float32_decoding_over_long_rows_matches_a_double_loop_across_cache_blocks(int rows)
    {
        // Rows as long as Qwen2.5-0.5B's down projection: a cache block holds a dozen, so every worker's share spans several.
        const int inFeatures = 4864, outFeatures = 100;
        var x = RandomValues(rows * inFeatures, rows);
        var bias = RandomValues(outFeatures, 5);
        var weights = RandomValues(outFeatures * inFeatures, 6);
        var y = new float[rows * outFeatures];
        fixed (float* xp = x, wp = weights, bp = bias, yp = y)
        {
            Kernels.Linear(Gemm.Default, xp, rows, inFeatures, wp, outFeatures, bp, yp);
        }
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < outFeatures; o++)
            {
                var expected = bias[o] + Enumerable.Range(0, inFeatures).Sum(i => (double)x[r * inFeatures + i] * weights[o * inFeatures + i]);
                Assert.InRange(Math.Abs(y[r * outFeatures + o] - expected), 0, inFeatures * 1.2e-7); // n·ε for n products of magnitude ≤ 1
            }
        }
    }

    [Theory]
    [InlineData(WeightType.BF16)]
    [InlineData(WeightType.F16)]
    [InlineData(WeightType.Q8)]
    public void Stored_weight_decoding_of_several_rows_over_long_rows_matches_a_double_loop(WeightType type)
    {
        // Several input rows read the weights a cache block at a time; rows this long make a worker's share span blocks.
        const int rows = Kernels.FewRows, inFeatures = 4864, outFeatures = 300;
        var x = RandomValues(rows * inFeatures, 11);
        var bias = RandomValues(outFeatures, 12);
        using var weights = new Weights(type, RandomValues(outFeatures * inFeatures, 13), outFeatures, inFeatures);
        var y = new float[rows * outFeatures];
        fixed (float* xp = x, bp = bias, yp = y)
        {
            Kernels.Linear(Gemm.Default, xp, rows, weights.Matrix, bp, yp);
        }
        for (var r = 0; r < rows; r++)
        {
            var read = ActivationsAsRead(type, x, r * inFeatures, inFeatures);
            for (var o = 0; o < outFeatures; o++)
            {
                double expected = bias[o], magnitude = Math.Abs(bias[o]);
                for (var i = 0; i < inFeatures; i++)
                {
                    expected += read[i] * weights.Exact[o * inFeatures + i];
                    magnitude += Math.Abs(read[i] * weights.Exact[o * inFeatures + i]);
                }
                // float32 accumulation: a few ulps of the sum of magnitudes.
                Assert.InRange(Math.Abs(y[r * outFeatures + o] - expected), 0, 1e-6 * magnitude + 1e-6);
            }
        }
    }

    [Theory]
    [InlineData(WeightType.F32, 1)]
    [InlineData(WeightType.F32, Kernels.FewRows)]
    [InlineData(WeightType.BF16, 1)]
    [InlineData(WeightType.F16, 3)]
    [InlineData(WeightType.Q8, 1)]
    [InlineData(WeightType.Q8, Kernels.FewRows)]
    [InlineData(WeightType.BF16, Kernels.FewRows + 1)] // past a few rows: each projection its own GEMM
    public void Projections_of_one_input_each_match_a_double_loop(WeightType type, int rows)
    {
        // Like a decoded token's K, V and Q: row counts that split the shared list across matrices and across the workers' halves.
        const int inFeatures = 96;
        int[] outFeatures = [37, 130, 301];
        var x = RandomValues(rows * inFeatures, rows + 10);
        var weights = outFeatures.Select((o, i) => new Weights(type, RandomValues(o * inFeatures, 20 + i), o, inFeatures)).ToArray();
        var biases = outFeatures.Select((o, i) => i == 1 ? null : RandomValues(o, 30 + i)).ToArray();
        // Native buffers, so the projections can hold their pointers without pinning.
        var biasData = biases.Select(b => b is null ? 0 : Native(b)).ToArray();
        var outputData = outFeatures.Select(o => Native(new float[rows * o])).ToArray();
        try
        {
            var projections = outFeatures.Select((_, i) => new Projection(weights[i].Matrix, (float*)biasData[i], (float*)outputData[i])).ToArray();
            fixed (float* xp = x)
            {
                Kernels.Linear(Gemm.Default, xp, rows, projections);
            }
            for (var p = 0; p < outFeatures.Length; p++)
            {
                var output = (float*)outputData[p];
                for (var r = 0; r < rows; r++)
                {
                    var read = ActivationsAsRead(rows <= Kernels.FewRows ? type : WeightType.F32, x, r * inFeatures, inFeatures);
                    for (var o = 0; o < outFeatures[p]; o++)
                    {
                        double expected = biases[p]?[o] ?? 0;
                        for (var i = 0; i < inFeatures; i++)
                        {
                            expected += read[i] * weights[p].Exact[o * inFeatures + i];
                        }
                        var actual = output[r * outFeatures[p] + o];
                        Assert.True(Math.Abs(actual - expected) < 1e-5, $"projection {p}, row {r}, output {o}: {actual} against {expected}");
                    }
                }
            }
        }
        finally
        {
            foreach (var w in weights)
            {
                w.Dispose();
            }
            foreach (var buffer in biasData.Concat(outputData))
            {
                NativeMemory.Free((void*)buffer);
            }
        }
    }

    private static nint Native(float[] values)
    {
        var buffer = (float*)NativeMemory.Alloc((nuint)(values.Length * sizeof(float)));
        values.CopyTo(new Span<float>(buffer, values.Length));
        return (nint)buffer;
    }

    [Fact]
    public void Q8_keeps_each_weight_within_half_its_groups_step()
    {
        var values = RandomValues(1000, 9).Select((v, i) => i % 97 == 0 ? v * 40 : v).ToArray(); // outliers set a group's scale
        values[64..96].AsSpan().Clear(); // an all-zero group
        var q = new sbyte[values.Length];
        var scales = new float[Q8.Groups(values.Length)];
        Q8.Quantize(values, q, scales);
        for (var g = 0; g < scales.Length; g++)
        {
            var group = values.Skip(g * Q8.GroupSize).Take(Q8.GroupSize).ToArray();
            var largest = group.Max(Math.Abs);
            Assert.Equal(largest / 127f, scales[g]);
            for (var i = 0; i < group.Length; i++)
            {
                var k = g * Q8.GroupSize + i;
                Assert.InRange((int)q[k], -127, 127);
                Assert.InRange(Math.Abs(values[k] - (double)q[k] * scales[g]), 0, scales[g] / 2 * (1 + 1e-6) + 1e-12);
            }
            Assert.True(largest == 0 || group.Select((v, i) => Math.Abs((int)q[g * Q8.GroupSize + i])).Max() == 127);
        }
    }

    [Theory]
    [MemberData(nameof(VectorPaths.Widths), MemberType = typeof(VectorPaths))]
    public void Float16_subnormals_infinities_and_nans_widen_exactly(SimdWidth width)
    {
        // Finite ones first (an infinity in another lane would make the dot NaN): subnormals, the largest, signed zeros.
        ushort[] specials = [0x0001, 0x03ff, 0x0400, 0x8001, 0x7bff, 0xfbff, 0x3c00, 0x0000, 0x8000, 0x3555, 0x1234, 0xc000, 0x0200];
        var columns = 64; // the widest kernel's loop takes 64 at a time: shorter rows would only reach its scalar tail
        var stored = new ushort[columns];
        for (var i = 0; i < columns; i++)
        {
            stored[i] = specials[i % specials.Length];
        }
        fixed (ushort* sp = stored)
        {
            var matrix = new Matrix(sp, 1, columns, WeightType.F16);
            for (var i = 0; i < columns; i++)
            {
                var x = new float[columns];
                x[i] = 1f;
                fixed (float* xp = x)
                {
                    var expected = (float)BitConverter.UInt16BitsToHalf(stored[i]);
                    Assert.Equal(expected, WeightDots.Dot(xp, matrix, 0, width));
                }
            }
        }
        // Infinities and NaNs, widened alone (the other lanes hold zeros, so no 0·∞ reaches the sum).
        foreach (var special in new ushort[] { 0x7c00, 0xfc00, 0x7e00 })
        {
            var row = new ushort[columns];
            row[0] = special;
            var ones = new float[columns];
            ones[0] = 1;
            fixed (ushort* rp = row)
            fixed (float* op = ones)
            {
                var widened = WeightDots.Dot(op, new Matrix(rp, 1, columns, WeightType.F16), 0, width);
                var expected = (float)BitConverter.UInt16BitsToHalf(special);
                Assert.True(float.IsNaN(expected) ? float.IsNaN(widened) : widened == expected, $"{special:x4}: {widened}");
            }
        }
    }

    [Theory]
    [InlineData("auto", null)]
    [InlineData("f32", WeightType.F32)]
    [InlineData("BF16", WeightType.BF16)]
    [InlineData("fp16", WeightType.F16)]
    [InlineData("q8", WeightType.Q8)]
    public void The_weights_choice_parses_its_names(string text, WeightType? type) => Assert.Equal(type, WeightChoice.Parse(text).Type);

    [Fact]
    public void An_unknown_weights_choice_names_the_choices() =>
        Assert.Contains(WeightChoice.Names, Assert.Throws<FormatException>(() => WeightChoice.Parse("int4")).Message, StringComparison.Ordinal);
}
