using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>The float exponential and the kernels built on it, against double-precision <see cref="Math.Exp"/>.</summary>
public sealed class ExponentialsTests
{
    // About 2 ulp: the r⁶ Taylor truncation (1.3e-7) plus the float rounding of a few FMAs.
    private const double RelativeTolerance = 4e-7;

    [Fact]
    public void The_vector_path_runs_on_this_machine()
    {
        // The CI machines have AVX-512; without it every test below would only check the portable path.
        Assert.True(Exponentials.Vectorized);
    }

    [Fact]
    public void Exp_is_within_two_ulp_over_the_whole_normal_range()
    {
        var random = new Random(11);
        var inputs = Enumerable.Range(0, 200_000).Select(_ => (float)(random.NextDouble() * 175.5 - 87.3)).ToArray();
        var worst = 0.0;
        foreach (var x in inputs)
        {
            var expected = Math.Exp(x);
            worst = Math.Max(worst, Math.Abs(ExpOf(x) - expected) / expected);
        }
        Assert.InRange(worst, 0, RelativeTolerance);
    }

    [Fact]
    public void Exp_is_exact_at_zero_and_handles_the_ends_of_the_range()
    {
        Assert.Equal(1f, ExpOf(0f));
        Assert.Equal(0f, ExpOf(float.NegativeInfinity));
        Assert.Equal(0f, ExpOf(-90f));
        Assert.True(float.IsNaN(ExpOf(float.NaN)));
        var saturated = ExpOf(88.37f);
        Assert.True(float.IsFinite(saturated) && saturated > 2e38f);
        Assert.Equal(saturated, ExpOf(200f));
        Assert.Equal(saturated, ExpOf(float.PositiveInfinity));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(512)]
    public void ExpShiftedSum_matches_double_precision_on_every_length(int length)
    {
        var random = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 40 - 30)).ToArray();
        const float shift = 3.5f;
        var expected = values.Select(v => Math.Exp(v - shift)).ToArray();

        var fast = (float[])values.Clone();
        var sum = Exponentials.ExpShiftedSum(fast, shift);
        var portable = (float[])values.Clone();
        var portableSum = Exponentials.ExpShiftedSumPortable(portable, shift);

        for (var i = 0; i < length; i++)
        {
            Assert.InRange(Math.Abs(fast[i] - expected[i]), 0, RelativeTolerance * expected[i]);
            Assert.InRange(Math.Abs(portable[i] - expected[i]), 0, RelativeTolerance * expected[i]);
        }
        Assert.InRange(Math.Abs(sum - expected.Sum()), 0, 1e-6 * expected.Sum());
        Assert.InRange(Math.Abs(portableSum - expected.Sum()), 0, 1e-6 * expected.Sum());
    }

    [Fact]
    public void ExpShiftedSum_gives_masked_scores_no_weight()
    {
        float[] values = [0f, float.NegativeInfinity, -1f, float.NegativeInfinity, .. Enumerable.Repeat(-2f, 20)];
        Exponentials.ExpShiftedSum(values, 0f);
        Assert.Equal(0f, values[1]);
        Assert.Equal(0f, values[3]);
        Assert.Equal(1f, values[0]);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(1000)]
    public void SiluMultiply_matches_double_precision(int length)
    {
        var random = new Random(length + 1);
        var gate = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 24 - 12)).ToArray();
        var up = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var expected = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();

        var fast = (float[])gate.Clone();
        Exponentials.SiluMultiply(fast, up);
        var portable = (float[])gate.Clone();
        Exponentials.SiluMultiplyPortable(portable, up);

        for (var i = 0; i < length; i++)
        {
            // Absolute floor: silu(g)·u near g = 0 is tiny, and 1 ulp of the inputs bounds it there.
            var tolerance = 1e-6 * Math.Abs(expected[i]) + 1e-7;
            Assert.InRange(Math.Abs(fast[i] - expected[i]), 0, tolerance);
            Assert.InRange(Math.Abs(portable[i] - expected[i]), 0, tolerance);
        }
    }

    [Fact]
    public void SiluMultiply_refuses_a_shorter_up()
    {
        Assert.Throws<ArgumentException>(() => Exponentials.SiluMultiply(new float[4], new float[3]));
    }

    private static float ExpOf(float x) =>
        Exponentials.Exp(System.Runtime.Intrinsics.Vector512.Create(x))[0];
}
