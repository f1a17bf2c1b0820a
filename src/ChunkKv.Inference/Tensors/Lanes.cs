using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// The float vector operations the engine's kernels use, as static members so that one generic
/// kernel compiles to straight Vector512 or Vector256 code (the JIT specialises a generic method per
/// struct type and inlines these one-liners; nothing is boxed or dispatched at run time).
/// </summary>
internal interface ILanes<TVector> where TVector : struct
{
    static abstract int Count { get; }
    static abstract TVector Splat(float value);
    static abstract TVector Load(ref float source, nuint index);
    static abstract void Store(TVector value, ref float destination, nuint index);
    static abstract TVector Add(TVector a, TVector b);
    static abstract TVector Subtract(TVector a, TVector b);
    static abstract TVector Multiply(TVector a, TVector b);
    static abstract TVector Divide(TVector a, TVector b);
    /// <summary><c>a·b + c</c> with one rounding.</summary>
    static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);
    static abstract TVector Round(TVector x);
    /// <summary>vminps / vmaxps: the second operand when either is NaN (cheaper than IEEE min/max).</summary>
    static abstract TVector MinNative(TVector a, TVector b);
    static abstract TVector MaxNative(TVector a, TVector b);
    /// <summary>2^k for whole k in [−126, 127], built in the exponent bits.</summary>
    static abstract TVector PowerOfTwo(TVector k);
    /// <summary>Lanes where <c>x &lt; limit</c> become 0, the others keep <paramref name="value"/>.</summary>
    static abstract TVector ZeroWhereBelow(TVector x, float limit, TVector value);
    static abstract float Sum(TVector v);
    /// <summary>The lane sums of four vectors at once, <c>[Σa, Σb, Σc, Σd]</c>: cheaper than four <see cref="Sum"/>s, which each reduce alone.</summary>
    static abstract Vector128<float> SumFour(TVector a, TVector b, TVector c, TVector d);
    static abstract float MaxAcross(TVector v);
}

/// <summary>512-bit lanes (AVX-512).</summary>
internal readonly struct Lanes512 : ILanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float source, nuint index) => Vector512.LoadUnsafe(ref source, index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> value, ref float destination, nuint index) => value.StoreUnsafe(ref destination, index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Round(Vector512<float> x) => Vector512.Round(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MinNative(Vector512<float> a, Vector512<float> b) => Vector512.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MaxNative(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> PowerOfTwo(Vector512<float> k) =>
        Vector512.ShiftLeft(Vector512.ConvertToInt32(k) + Vector512.Create(127), 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZeroWhereBelow(Vector512<float> x, float limit, Vector512<float> value) =>
        Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(limit)), Vector512<float>.Zero, value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumFour(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        Lanes256.SumFour(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> v) => Lanes256.MaxAcross(Vector256.MaxNative(v.GetLower(), v.GetUpper()));
}

/// <summary>256-bit lanes (AVX2 with FMA).</summary>
internal readonly struct Lanes256 : ILanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float source, nuint index) => Vector256.LoadUnsafe(ref source, index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> value, ref float destination, nuint index) => value.StoreUnsafe(ref destination, index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Round(Vector256<float> x) => Vector256.Round(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MinNative(Vector256<float> a, Vector256<float> b) => Vector256.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MaxNative(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> PowerOfTwo(Vector256<float> k) =>
        Vector256.ShiftLeft(Vector256.ConvertToInt32(k) + Vector256.Create(127), 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZeroWhereBelow(Vector256<float> x, float limit, Vector256<float> value) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(limit)), Vector256<float>.Zero, value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumFour(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        // vhaddps adds neighbours within each 128-bit half: two rounds leave [Σa, Σb, Σc, Σd] of each half.
        var halves = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));
        return halves.GetLower() + halves.GetUpper();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> v)
    {
        var quarter = Vector128.MaxNative(v.GetLower(), v.GetUpper());
        var result = quarter[0];
        for (var lane = 1; lane < Vector128<float>.Count; lane++)
        {
            result = MathF.Max(result, quarter[lane]);
        }
        return result;
    }
}
