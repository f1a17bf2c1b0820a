using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>The row-wise kernels against plain loops, at lengths on both sides of a vector and of a part.</summary>
public sealed unsafe class KernelsTests
{
    public static TheoryData<SimdWidth, int> MaxLengths => VectorPaths.WidthsAndLengths(0, 1, 7, 8, 9, 15, 16, 17, 100, 512);

    public static TheoryData<SimdWidth, int> DotLengths => VectorPaths.WidthsAndLengths(0, 1, 15, 16, 33, 75, 896);

    [Theory]
    [MemberData(nameof(MaxLengths))]
    public void Max_finds_the_largest_wherever_it_is(SimdWidth width, int length)
    {
        Assert.Equal(float.NegativeInfinity, Kernels.Max(Enumerable.Repeat(float.NegativeInfinity, length).ToArray(), width));
        var random = new Random(length);
        for (var position = 0; position < length; position++)
        {
            var values = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * -50)).ToArray();
            values[position] = 3f;
            Assert.Equal(3f, Kernels.Max(values, width));
        }
    }

    [Theory]
    [MemberData(nameof(DotLengths))]
    public void Dot_matches_a_double_precision_sum(SimdWidth width, int length)
    {
        var random = new Random(length + 7);
        var a = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var expected = a.Zip(b, (x, y) => (double)x * y).Sum();
        float dot;
        fixed (float* ap = a, bp = b)
        {
            dot = Kernels.Dot(ap, bp, length, width);
        }
        // Float accumulation of n products of magnitude ≤ 1: an error bound of n·ε with room to spare.
        Assert.InRange(Math.Abs(dot - expected), 0, Math.Max(1, length) * 1.2e-7);
    }

    public static TheoryData<SimdWidth, int, int> RowDotShapes()
    {
        var data = new TheoryData<SimdWidth, int, int>();
        foreach (var width in Simd.Accelerated)
        {
            foreach (var (rows, columns) in new[] { (0, 16), (1, 7), (3, 33), (4, 16), (5, 75), (8, 40), (9, 896), (13, 1) })
            {
                data.Add(width, rows, columns);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(RowDotShapes))]
    public void Row_dots_as_four_streams_match_a_double_precision_sum_per_row(SimdWidth width, int rows, int columns)
    {
        // Row counts on both sides of four streams (one row of each quarter a step) and their leftover rows, lengths on
        // both sides of a vector: every stream, step and tail path.
        var random = new Random(rows * 1000 + columns);
        var x = Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var weights = Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Repeat(float.NaN, rows + 1).ToArray();
        fixed (float* xp = x, wp = weights, yp = y)
        {
            Kernels.RowDots(xp, wp, columns, rows, yp, width);
        }
        for (var r = 0; r < rows; r++)
        {
            var expected = Enumerable.Range(0, columns).Sum(i => (double)x[i] * weights[r * columns + i]);
            Assert.InRange(Math.Abs(y[r] - expected), 0, columns * 1.2e-7);
        }
        Assert.True(float.IsNaN(y[rows]), "wrote past the last row");
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(300, 64)]
    [InlineData(5000, 896)]
    public void RmsNorm_matches_a_double_precision_loop(int rows, int width)
    {
        var random = new Random(rows);
        var x = Enumerable.Range(0, rows * width).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var weight = Enumerable.Range(0, width).Select(_ => (float)(random.NextDouble() + 0.5)).ToArray();
        var y = new float[x.Length];
        fixed (float* xp = x, yp = y, wp = weight)
        {
            Kernels.RmsNorm(xp, yp, rows, width, wp, 1e-6f);
        }
        for (var r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * width, width).ToArray();
            var scale = 1 / Math.Sqrt(row.Sum(v => (double)v * v) / width + 1e-6);
            for (var i = 0; i < width; i++)
            {
                var expected = row[i] * scale * weight[i];
                Assert.InRange(Math.Abs(y[r * width + i] - expected), 0, 1e-5 * Math.Abs(expected) + 1e-6);
            }
        }
    }

    [Theory]
    [InlineData(1, 300, false)]
    [InlineData(3, 300, true)]
    [InlineData(Kernels.FewRows, 300, true)]
    [InlineData(Kernels.FewRows + 1, 300, true)]
    [InlineData(40, 300, false)]
    [InlineData(40, Kernels.NarrowOutput + 88, true)]
    [InlineData(Kernels.FewRows + 1, Kernels.NarrowOutput + 88, false)]
    public void Linear_matches_a_double_precision_loop_for_few_and_many_rows_narrow_and_wide(int rows, int outFeatures, bool withBias)
    {
        const int inFeatures = 75; // not a multiple of a vector, to reach the tails
        var random = new Random(rows);
        var x = Enumerable.Range(0, rows * inFeatures).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var weight = Enumerable.Range(0, outFeatures * inFeatures).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bias = Enumerable.Range(0, outFeatures).Select(_ => (float)random.NextDouble()).ToArray();
        var y = new float[rows * outFeatures];
        fixed (float* xp = x, wp = weight, bp = bias, yp = y)
        {
            Kernels.Linear(Gemm.Default, xp, rows, inFeatures, wp, outFeatures, withBias ? bp : null, yp);
        }
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < outFeatures; o++)
            {
                var expected = withBias ? (double)bias[o] : 0;
                for (var i = 0; i < inFeatures; i++)
                {
                    expected += (double)x[r * inFeatures + i] * weight[o * inFeatures + i];
                }
                Assert.InRange(Math.Abs(y[r * outFeatures + o] - expected), 0, 1e-5);
            }
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(100_003)]
    public void AddInPlace_adds_every_element(int count)
    {
        var x = Enumerable.Range(0, count).Select(i => (float)i).ToArray();
        var y = Enumerable.Range(0, count).Select(i => 0.5f * i).ToArray();
        fixed (float* xp = x, yp = y)
        {
            Kernels.AddInPlace(xp, yp, count);
        }
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(1.5f * i, x[i]);
        }
    }
}
