using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// OpenBLAS, found at run time. Two things must happen before the library loads, because it reads
/// its environment once, in its constructor: the kernel is chosen from the CPU (the environment here
/// presets <c>OPENBLAS_CORETYPE=Haswell</c>, half the AVX-512 speed), and its own thread pool is
/// switched off (one pool only: two pools spinning against each other on two cores cost up to 40 %;
/// ours splits the work). .NET's <c>Environment.SetEnvironmentVariable</c> does not reach native
/// code on Linux, so the variables go through libc <c>setenv</c>.
/// </summary>
internal static unsafe partial class OpenBlas
{
    private const string Library = "chunkkv-openblas";
    private static readonly string[] Candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "openblas"];
    private static readonly Lazy<string?> LoadError = new(TryLoad);
    private static IntPtr handle;

    /// <summary>The kernel OpenBLAS was told to use, or null when the CPU choice was left to it.</summary>
    public static string? RequestedCore { get; private set; }

    /// <summary>Null when OpenBLAS is usable; otherwise why not.</summary>
    public static string? UnavailableReason => LoadError.Value;

    public static bool IsAvailable => LoadError.Value is null;

    /// <summary>The kernel OpenBLAS reports it runs, e.g. "SkylakeX".</summary>
    public static string CoreName => IsAvailable ? Marshal.PtrToStringAnsi(openblas_get_corename()) ?? "?" : "unavailable";

    /// <summary>The best kernel for this CPU, or null where OpenBLAS's own detection is as good.</summary>
    internal static string? ChooseCore()
    {
        var configured = Environment.GetEnvironmentVariable("CHUNKKV_OPENBLAS_CORETYPE");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        if (Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported)
        {
            return "SkylakeX";
        }
        return Avx2.IsSupported && Fma.IsSupported ? "Haswell" : null;
    }

    private static string? TryLoad()
    {
        RequestedCore = ChooseCore();
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            if (RequestedCore is not null)
            {
                _ = setenv("OPENBLAS_CORETYPE", RequestedCore, 1);
            }
            _ = setenv("OPENBLAS_NUM_THREADS", "1", 1);
            _ = setenv("OMP_NUM_THREADS", "1", 1);
        }
        foreach (var name in Candidates)
        {
            if (NativeLibrary.TryLoad(name, out handle))
            {
                NativeLibrary.SetDllImportResolver(typeof(OpenBlas).Assembly, Resolve);
                openblas_set_num_threads(1);
                return null;
            }
        }
        return $"OpenBLAS not found (tried {string.Join(", ", Candidates)}); install libopenblas0";
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == Library ? handle : IntPtr.Zero;

    public enum Order { RowMajor = 101 }

    public enum Transpose { No = 111, Yes = 112 }

    [LibraryImport(Library)]
    public static partial void cblas_sgemm(Order order, Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    private static partial void openblas_set_num_threads(int threads);

    [LibraryImport(Library)]
    private static partial IntPtr openblas_get_corename();

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
