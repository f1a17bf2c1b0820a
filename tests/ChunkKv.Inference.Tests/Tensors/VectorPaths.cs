using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>
/// Theory data that runs a kernel test once per vector path this machine runs in hardware
/// (Vector512 and Vector256 where accelerated, and always the portable reference), so an AVX-512
/// machine checks both vector paths and an AVX2 one checks the path it will really use. The
/// width appears in each test case's name, which says what ran.
/// </summary>
public static class VectorPaths
{
    public static TheoryData<SimdWidth> Widths => [.. Simd.Accelerated];

    /// <summary>Every accelerated width crossed with every length.</summary>
    public static TheoryData<SimdWidth, int> WidthsAndLengths(params int[] lengths)
    {
        var data = new TheoryData<SimdWidth, int>();
        foreach (var width in Simd.Accelerated)
        {
            foreach (var length in lengths)
            {
                data.Add(width, length);
            }
        }
        return data;
    }

    /// <summary>How many representable floats lie between <paramref name="a"/> and <paramref name="b"/> (0 when equal).</summary>
    public static long UlpsBetween(float a, float b)
    {
        static long Ordered(float value)
        {
            var bits = BitConverter.SingleToInt32Bits(value);
            return bits < 0 ? int.MinValue - (long)bits : bits;
        }
        return Math.Abs(Ordered(a) - Ordered(b));
    }
}
