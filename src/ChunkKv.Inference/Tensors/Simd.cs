using System.Runtime.Intrinsics;

namespace ChunkKv.Inference.Tensors;

/// <summary>The vector widths the engine's own kernels are written for.</summary>
public enum SimdWidth
{
    /// <summary>No vector kernel of ours: the <c>TensorPrimitives</c> / scalar path, which is also the tests' reference.</summary>
    Portable = 0,
    /// <summary>256-bit vectors (AVX2 with FMA).</summary>
    Vector256 = 256,
    /// <summary>512-bit vectors (AVX-512).</summary>
    Vector512 = 512,
}

/// <summary>
/// Which vector width the kernels run at, chosen once at start-up: the widest one the hardware
/// accelerates, narrowed by <c>CHUNKKV_SIMD</c> (<c>512</c>, <c>256</c> or <c>portable</c>) to compare
/// paths on one machine. Each kernel is written once, generic over <see cref="ILanes{TVector}"/>,
/// and instantiated per width, so an AVX2 machine runs the same code as an AVX-512 one at half width.
/// </summary>
public static class Simd
{
    /// <summary>The width the kernels use in this process.</summary>
    public static SimdWidth Width { get; } = Choose(Environment.GetEnvironmentVariable("CHUNKKV_SIMD"));

    /// <summary>Every width that runs hardware-accelerated here, widest first, ending with <see cref="SimdWidth.Portable"/>.</summary>
    public static IReadOnlyList<SimdWidth> Accelerated { get; } =
        new[] { SimdWidth.Vector512, SimdWidth.Vector256, SimdWidth.Portable }.Where(IsAccelerated).ToArray();

    /// <summary>Whether <paramref name="width"/>'s kernels run in hardware (not emulated) on this machine.</summary>
    public static bool IsAccelerated(SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => Vector512.IsHardwareAccelerated,
        // FMA is what makes the 256-bit kernels fast; without it Vector256.FusedMultiplyAdd is emulated.
        SimdWidth.Vector256 => Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported,
        _ => true,
    };

    /// <summary>The widest accelerated width, or a narrower one if <paramref name="configured"/> asks for it (never a wider one).</summary>
    internal static SimdWidth Choose(string? configured)
    {
        var widest = new[] { SimdWidth.Vector512, SimdWidth.Vector256 }.FirstOrDefault(IsAccelerated, SimdWidth.Portable);
        SimdWidth? requested = configured?.Trim().ToUpperInvariant() switch
        {
            "512" => SimdWidth.Vector512,
            "256" => SimdWidth.Vector256,
            "PORTABLE" or "SCALAR" or "0" => SimdWidth.Portable,
            _ => null,
        };
        return requested is { } width && width <= widest && IsAccelerated(width) ? width : widest;
    }

    /// <summary>"AVX-512 (Vector512)" and the like, for benchmark output.</summary>
    public static string Describe(SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => "Vector512 (AVX-512)",
        SimdWidth.Vector256 => "Vector256 (AVX2+FMA)",
        _ => "portable (TensorPrimitives)",
    };
}
