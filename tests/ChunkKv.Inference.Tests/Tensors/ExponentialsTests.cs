using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>
/// The float exponential and the kernels built on it, on every vector path this machine runs,
/// against double-precision <see cref="Math.Exp"/>.
/// </summary>
public sealed class ExponentialsTests
{
    // About 2 ulp: the r⁶ Taylor truncation (1.3e-7) plus the float rounding of a few FMAs.
    private const double RelativeTolerance = 4e-7;

    public static TheoryData<SimdWidth> Widths => VectorPaths.Widths;

    public static TheoryData<SimdWidth, int> ExpLengths => VectorPaths.WidthsAndLengths(1, 7, 15, 16, 37, 512);

    public static TheoryData<SimdWidth, int> SiluLengths => VectorPaths.WidthsAndLengths(7, 16, 1000);

    [Theory]
    [MemberData(nameof(Widths))]
    public void Exp_is_within_two_ulp_over_the_whole_normal_range(SimdWidth width)
    {
        var random = new Random(11);
        var inputs = Enumerable.Range(0, 200_000).Select(_ => (float)(random.NextDouble() * 175.5 - 87.3)).ToArray();
        var outputs = ExpAll(inputs, width);
        var worst = 0.0;
        for (var i = 0; i < inputs.Length; i++)
        {
            var expected = Math.Exp(inputs[i]);
            worst = Math.Max(worst, Math.Abs(outputs[i] - expected) / expected);
        }
        Assert.InRange(worst, 0, RelativeTolerance);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Exp_is_exact_at_zero_and_handles_the_ends_of_the_range(SimdWidth width)
    {
        // Ours is exact at 0; TensorPrimitives' vector Exp gives 1 + 1 ulp there.
        Assert.InRange(VectorPaths.UlpsBetween(ExpOf(0f, width), 1f), 0, width == SimdWidth.Portable ? 1 : 0);
        Assert.Equal(0f, ExpOf(float.NegativeInfinity, width));
        Assert.True(float.IsNaN(ExpOf(float.NaN, width)));
        var saturated = ExpOf(88.37f, width);
        Assert.True(float.IsFinite(saturated) && saturated > 2e38f);
        if (width != SimdWidth.Portable)
        {
            // Ours flushes below the normal range and saturates above it.
            Assert.Equal(0f, ExpOf(-90f, width));
            Assert.Equal(saturated, ExpOf(200f, width));
            Assert.Equal(saturated, ExpOf(float.PositiveInfinity, width));
        }
        else
        {
            // TensorPrimitives follows IEEE 754: a subnormal, and +∞ past 88.72.
            Assert.InRange(ExpOf(-90f, width), 0f, 1e-38f);
            Assert.Equal(float.PositiveInfinity, ExpOf(200f, width));
        }
    }

    [Theory]
    [MemberData(nameof(ExpLengths))]
    public void ExpShiftedSum_matches_double_precision_on_every_length(SimdWidth width, int length)
    {
        var random = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 40 - 30)).ToArray();
        const float shift = 3.5f;
        var expected = values.Select(v => Math.Exp(v - shift)).ToArray();

        var sum = Exponentials.ExpShiftedSum(values, shift, width);

        for (var i = 0; i < length; i++)
        {
            Assert.InRange(Math.Abs(values[i] - expected[i]), 0, RelativeTolerance * expected[i]);
        }
        Assert.InRange(Math.Abs(sum - expected.Sum()), 0, 1e-6 * expected.Sum());
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpShiftedSum_gives_masked_scores_no_weight(SimdWidth width)
    {
        float[] values = [0f, float.NegativeInfinity, -1f, float.NegativeInfinity, .. Enumerable.Repeat(-2f, 20)];
        Exponentials.ExpShiftedSum(values, 0f, width);
        Assert.Equal(0f, values[1]);
        Assert.Equal(0f, values[3]);
        // e^0 is 1 to within the paths' accuracy (TensorPrimitives' subtract-then-exp gives 1 + 1 ulp).
        Assert.InRange(VectorPaths.UlpsBetween(values[0], 1f), 0, 2);
        Assert.InRange(VectorPaths.UlpsBetween(values[2], MathF.Exp(-1f)), 0, 2);
    }

    [Theory]
    [MemberData(nameof(SiluLengths))]
    public void SiluMultiply_matches_double_precision(SimdWidth width, int length)
    {
        var random = new Random(length + 1);
        var gate = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 24 - 12)).ToArray();
        var up = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var expected = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();

        Exponentials.SiluMultiply(gate, up, width);

        for (var i = 0; i < length; i++)
        {
            // Absolute floor: silu(g)·u near g = 0 is tiny, and 1 ulp of the inputs bounds it there.
            var tolerance = 1e-6 * Math.Abs(expected[i]) + 1e-7;
            Assert.InRange(Math.Abs(gate[i] - expected[i]), 0, tolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void SiluMultiply_refuses_a_shorter_up(SimdWidth width)
    {
        Assert.Throws<ArgumentException>(() => Exponentials.SiluMultiply(new float[4], new float[3], width));
    }

    [Fact]
    public void The_chosen_width_is_one_this_machine_accelerates_and_a_request_never_widens_it()
    {
        Assert.Contains(Simd.Width, Simd.Accelerated);
        Assert.Equal(SimdWidth.Portable, Simd.Choose("portable"));
        var widest = Simd.Accelerated[0];
        Assert.Equal(widest, Simd.Choose(null));
        Assert.Equal(widest, Simd.Choose("not-a-width"));
        Assert.True(Simd.Choose("512") <= widest);
    }

    /// <summary>e^x of each input at <paramref name="width"/>, with ExpShiftedSum at shift 0 over whole vectors (64 floats a call).</summary>
    private static float[] ExpAll(float[] inputs, SimdWidth width)
    {
        var outputs = (float[])inputs.Clone();
        for (var offset = 0; offset < outputs.Length; offset += 64)
        {
            var block = outputs.AsSpan(offset, Math.Min(64, outputs.Length - offset));
            // A NaN or infinite lane makes the block's sum meaningless, never its elements.
            _ = Exponentials.ExpShiftedSum(block, 0f, width);
        }
        return outputs;
    }

    private static float ExpOf(float x, SimdWidth width) => ExpAll(Enumerable.Repeat(x, 64).ToArray(), width)[0];
}
