namespace ChunkKv.Inference.Tensors;

/// <summary>
/// 8-bit weights as llama.cpp's Q8_0 keeps them: each row in groups of <see cref="GroupSize"/>, each
/// group with one scale <c>d = max|w| / 127</c> and integers <c>q = round(w / d)</c> (halves away from
/// zero) in [−127, 127], so <c>w ≈ d·q</c> within <c>d / 2</c>. The scale is kept as float32 (llama.cpp
/// keeps float16): 1.125 bytes a weight.
/// </summary>
public static class Q8
{
    public const int GroupSize = 32;

    /// <summary>Groups in a row of <paramref name="columns"/> (the last one may be short).</summary>
    public static int Groups(long columns) => (int)((columns + GroupSize - 1) / GroupSize);

    /// <summary>Quantizes one row.</summary>
    public static void Quantize(ReadOnlySpan<float> row, Span<sbyte> values, Span<float> scales)
    {
        for (var g = 0; g < scales.Length; g++)
        {
            var start = g * GroupSize;
            var group = row.Slice(start, Math.Min(GroupSize, row.Length - start));
            var largest = 0f;
            foreach (var w in group)
            {
                largest = Math.Max(largest, Math.Abs(w));
            }
            var scale = largest / 127f;
            scales[g] = scale;
            var inverse = scale == 0 ? 0 : 1f / scale;
            for (var i = 0; i < group.Length; i++)
            {
                values[start + i] = (sbyte)Math.Clamp(MathF.Round(group[i] * inverse, MidpointRounding.AwayFromZero), -127, 127);
            }
        }
    }

    /// <summary>The row's values back: <c>d·q</c>.</summary>
    public static void Dequantize(ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales, Span<float> row)
    {
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = values[i] * scales[i / GroupSize];
        }
    }
}
