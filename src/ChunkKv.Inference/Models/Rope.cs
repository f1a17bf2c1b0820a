namespace ChunkKv.Inference.Models;

/// <summary>
/// Rotary position embedding in the Hugging Face "rotate half" layout: element i of a head pairs
/// with element i + headDim/2 and both turn by <c>position * frequency[i]</c>. A rotation by p then
/// by Δ equals one by p + Δ, which is how cached keys move to new positions.
/// </summary>
public sealed class Rope
{
    public Rope(int headDim, double theta, Llama3RopeScaling? scaling)
    {
        HeadDim = headDim;
        Frequencies = new double[headDim / 2];
        for (var i = 0; i < Frequencies.Length; i++)
        {
            Frequencies[i] = Scale(1.0 / Math.Pow(theta, 2.0 * i / headDim), scaling);
        }
    }

    public int HeadDim { get; }

    /// <summary>Radians per position for each pair of a head.</summary>
    public double[] Frequencies { get; }

    /// <summary>cos and sin per row and pair, <c>[positions.Length, headDim/2]</c> each, for the given positions (or offsets).</summary>
    public (float[] Cos, float[] Sin) Table(ReadOnlySpan<int> positions)
    {
        var half = HeadDim / 2;
        var cos = new float[positions.Length * half];
        var sin = new float[positions.Length * half];
        for (var r = 0; r < positions.Length; r++)
        {
            for (var i = 0; i < half; i++)
            {
                var (s, c) = Math.SinCos(positions[r] * Frequencies[i]);
                cos[r * half + i] = (float)c;
                sin[r * half + i] = (float)s;
            }
        }
        return (cos, sin);
    }

    /// <summary>Rotates <c>[rows, heads, headDim]</c> in place, row r by the angles of row r of the table, split over the engine's workers.</summary>
    public unsafe void Apply(float* x, int rows, int heads, float[] cos, float[] sin) => Apply(x, 0, rows, heads, cos, sin);

    /// <summary>As <see cref="Apply(float*, int, int, float[], float[])"/> for rows <c>[from, from + rows)</c> of <paramref name="x"/> and the table alone.</summary>
    public unsafe void Apply(float* x, int from, int rows, int heads, float[] cos, float[] sin)
    {
        fixed (float* cosBase = cos, sinBase = sin)
        {
            var (target, cosTable, sinTable) = ((nint)x, (nint)cosBase, (nint)sinBase);
            Tensors.Workers.ForRanges(rows, Tensors.Kernels.RowGrain(heads * HeadDim), (first, count) =>
                ApplyRows((float*)target, from + first, count, heads, (float*)cosTable, (float*)sinTable));
        }
    }

    /// <summary>
    /// <see cref="Apply"/> on the calling thread only: for work beside the computation (filling a
    /// fused cache in the background), which must not take the workers the computation splits over.
    /// </summary>
    public unsafe void ApplyOnThisThread(float* x, int rows, int heads, float[] cos, float[] sin)
    {
        fixed (float* cosBase = cos, sinBase = sin)
        {
            ApplyRows(x, 0, rows, heads, cosBase, sinBase);
        }
    }

    private unsafe void ApplyRows(float* x, int first, int count, int heads, float* cosTable, float* sinTable)
    {
        var half = HeadDim / 2;
        for (var r = first; r < first + count; r++)
        {
            var c = cosTable + (long)r * half;
            var s = sinTable + (long)r * half;
            for (var h = 0; h < heads; h++)
            {
                var head = x + ((long)r * heads + h) * HeadDim;
                for (var i = 0; i < half; i++)
                {
                    var x1 = head[i];
                    var x2 = head[i + half];
                    head[i] = x1 * c[i] - x2 * s[i];
                    head[i + half] = x2 * c[i] + x1 * s[i];
                }
            }
        }
    }

    /// <summary>Llama 3's frequency-dependent scaling: long wavelengths slowed by the factor, short ones kept, a blend between.</summary>
    private static double Scale(double frequency, Llama3RopeScaling? scaling)
    {
        if (scaling is null)
        {
            return frequency;
        }
        var lowFrequencyWavelength = scaling.OriginalMaxPositions / scaling.LowFrequencyFactor;
        var highFrequencyWavelength = scaling.OriginalMaxPositions / scaling.HighFrequencyFactor;
        var wavelength = 2 * Math.PI / frequency;
        if (wavelength < highFrequencyWavelength)
        {
            return frequency;
        }
        if (wavelength > lowFrequencyWavelength)
        {
            return frequency / scaling.Factor;
        }
        var smooth = (scaling.OriginalMaxPositions / wavelength - scaling.LowFrequencyFactor)
            / (scaling.HighFrequencyFactor - scaling.LowFrequencyFactor);
        return (1 - smooth) * frequency / scaling.Factor + smooth * frequency;
    }
}
