using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// The exponentials of attention's softmax and the MLP's SiLU, in single precision, written once
/// for any vector width (<see cref="Simd"/>). <c>TensorPrimitives.Exp</c> widens to double for
/// last-bit accuracy and costs about 0.5 ns a float here, which made the softmax half of
/// attention's time; this one stays in float, about 2 ulp, about 2.5 times faster. The
/// <c>TensorPrimitives</c> path stays as the portable one and the tests' reference.
/// </summary>
public static class Exponentials
{
    // Below Lowest e^x is under the smallest normal float and the result is 0; from Highest up the
    // result saturates at e^Highest ≈ 2.4e38 (k stays ≤ 127, so 2^k fits the exponent bits).
    private const float Lowest = -87.33654f;
    private const float Highest = 88.37f;
    private const float Log2E = 1.44269504f;
    // ln 2 split so that k·Ln2High is exact for |k| ≤ 128 and the reduction keeps float precision (Cody–Waite).
    private const float Ln2High = 0.693145752f;
    private const float Ln2Low = 1.42860677e-6f;

    /// <summary>
    /// e^x per lane: x = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor series to r⁶ (truncation
    /// below 1.3e-7 relative; 2.3e-7 measured with rounding), times 2^k built in the exponent bits.
    /// 0 below -87.34, saturated at about 2.4e38 above 88.37; NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector Exp<TVector, TLanes>(TVector x)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        // vmaxps/vminps return their second operand when either is NaN, so x goes second: a NaN
        // passes through the clamp and poisons the polynomial (the IEEE Max/Min cost 3x the instructions).
        var clamped = TLanes.MinNative(TLanes.Splat(Highest), TLanes.MaxNative(TLanes.Splat(Lowest), x));
        var k = TLanes.Round(TLanes.Multiply(clamped, TLanes.Splat(Log2E)));
        var r = TLanes.MultiplyAdd(k, TLanes.Splat(-Ln2High), clamped);
        r = TLanes.MultiplyAdd(k, TLanes.Splat(-Ln2Low), r);
        var p = TLanes.Splat(1f / 720);
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(1f / 120));
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(1f / 24));
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(1f / 6));
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(0.5f));
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(1f));
        p = TLanes.MultiplyAdd(p, r, TLanes.Splat(1f));
        return TLanes.ZeroWhereBelow(x, Lowest, TLanes.Multiply(p, TLanes.PowerOfTwo(k)));
    }

    /// <summary><c>values[i] = e^(values[i] − shift)</c> in place; returns their sum. Softmax's numerator with its max subtracted.</summary>
    public static float ExpShiftedSum(Span<float> values, float shift) => ExpShiftedSum(values, shift, Simd.Width);

    /// <summary><see cref="ExpShiftedSum(Span{float}, float)"/> at a chosen width (the tests run each one the machine accelerates).</summary>
    public static float ExpShiftedSum(Span<float> values, float shift, SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => ExpShiftedSum<Vector512<float>, Lanes512>(values, shift),
        SimdWidth.Vector256 => ExpShiftedSum<Vector256<float>, Lanes256>(values, shift),
        _ => ExpShiftedSumPortable(values, shift),
    };

    private static float ExpShiftedSum<TVector, TLanes>(Span<float> values, float shift)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        ref var start = ref MemoryMarshal.GetReference(values);
        var shiftVector = TLanes.Splat(shift);
        var sums = TLanes.Splat(0f);
        var i = 0;
        for (; i <= values.Length - TLanes.Count; i += TLanes.Count)
        {
            var e = Exp<TVector, TLanes>(TLanes.Subtract(TLanes.Load(ref start, (nuint)i), shiftVector));
            TLanes.Store(e, ref start, (nuint)i);
            sums = TLanes.Add(sums, e);
        }
        var sum = TLanes.Sum(sums);
        for (; i < values.Length; i++)
        {
            values[i] = MathF.Exp(values[i] - shift);
            sum += values[i];
        }
        return sum;
    }

    /// <summary><see cref="ExpShiftedSum(Span{float}, float)"/> with <c>TensorPrimitives</c>: the portable path and the tests' reference.</summary>
    public static float ExpShiftedSumPortable(Span<float> values, float shift)
    {
        TensorPrimitives.Subtract(values, shift, values);
        TensorPrimitives.Exp(values, values);
        return TensorPrimitives.Sum(values);
    }

    /// <summary>SwiGLU in place: <c>gate[i] = silu(gate[i]) · up[i]</c>, silu(g) = g / (1 + e^−g).</summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up) => SiluMultiply(gate, up, Simd.Width);

    /// <summary><see cref="SiluMultiply(Span{float}, ReadOnlySpan{float})"/> at a chosen width.</summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up, SimdWidth width)
    {
        if (up.Length < gate.Length)
        {
            throw new ArgumentException($"up holds {up.Length} floats; gate holds {gate.Length}");
        }
        switch (width)
        {
            case SimdWidth.Vector512:
                SiluMultiply<Vector512<float>, Lanes512>(gate, up);
                break;
            case SimdWidth.Vector256:
                SiluMultiply<Vector256<float>, Lanes256>(gate, up);
                break;
            default:
                SiluMultiplyPortable(gate, up);
                break;
        }
    }

    private static void SiluMultiply<TVector, TLanes>(Span<float> gate, ReadOnlySpan<float> up)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        ref var g = ref MemoryMarshal.GetReference(gate);
        ref var u = ref MemoryMarshal.GetReference(up);
        var one = TLanes.Splat(1f);
        var minusOne = TLanes.Splat(-1f);
        var i = 0;
        for (; i <= gate.Length - TLanes.Count; i += TLanes.Count)
        {
            var x = TLanes.Load(ref g, (nuint)i);
            var product = TLanes.Multiply(x, TLanes.Load(ref u, (nuint)i));
            var denominator = TLanes.Add(one, Exp<TVector, TLanes>(TLanes.Multiply(x, minusOne)));
            TLanes.Store(TLanes.Divide(product, denominator), ref g, (nuint)i);
        }
        for (; i < gate.Length; i++)
        {
            gate[i] = gate[i] * up[i] / (1f + MathF.Exp(-gate[i]));
        }
    }

    /// <summary><see cref="SiluMultiply(Span{float}, ReadOnlySpan{float})"/> with <c>TensorPrimitives</c>: the portable path and the tests' reference.</summary>
    public static void SiluMultiplyPortable(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length)
        {
            throw new ArgumentException($"up holds {up.Length} floats; gate holds {gate.Length}");
        }
        Span<float> sigmoid = stackalloc float[1024];
        for (var offset = 0; offset < gate.Length; offset += sigmoid.Length)
        {
            var piece = Math.Min(sigmoid.Length, gate.Length - offset);
            var g = gate.Slice(offset, piece);
            var s = sigmoid[..piece];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(g, s, g);
            TensorPrimitives.Multiply(g, up.Slice(offset, piece), g);
        }
    }
}
