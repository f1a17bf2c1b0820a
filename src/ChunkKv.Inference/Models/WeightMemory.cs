using System.Runtime.InteropServices;

namespace ChunkKv.Inference.Models;

/// <summary>Where a model's matrices live once loaded (<c>--weight-memory</c>).</summary>
public enum WeightMemory
{
    /// <summary><see cref="HugePages"/> where the kernel offers them (Linux, transparent huge pages not <c>never</c>), else <see cref="Mapped"/>.</summary>
    Auto,

    /// <summary>
    /// A matrix kept as it is stored is read in place from the memory-mapped safetensors file: no copy
    /// at load, and processes loading one model share its page cache, but in 4 KiB pages.
    /// </summary>
    Mapped,

    /// <summary>
    /// Every matrix is copied into anonymous memory that asks for 2 MiB pages. Decoding streams every
    /// weight once a token; with 4 KiB pages that walk misses the TLB every 4 KiB, and the matrix-vector
    /// kernels ran 11–16 % faster over huge pages (medians of 8 alternating runs on a 545 MB LM head,
    /// f32, bf16 and q8, on a 2-core Zen 3). The price is one copy at load.
    /// </summary>
    HugePages,
}

/// <summary>Native memory for weights, in transparent huge pages where the kernel gives them.</summary>
internal static unsafe partial class HugePageMemory
{
    private const long PageBytes = 2 << 20;
    private const int HugePageAdvice = 14; // MADV_HUGEPAGE

    /// <summary>Whether <c>madvise(MADV_HUGEPAGE)</c> can give huge pages here (<c>[always]</c> or <c>[madvise]</c>).</summary>
    public static bool Available { get; } = Probe();

    public static WeightMemory Resolve(WeightMemory memory) =>
        memory == WeightMemory.Auto ? (Available ? WeightMemory.HugePages : WeightMemory.Mapped) : memory;

    /// <summary>
    /// <paramref name="bytes"/> aligned to a huge page and advised to use them when there are any to
    /// fill (smaller blocks: 64-byte aligned). Free with <see cref="NativeMemory.AlignedFree"/>.
    /// </summary>
    public static void* Allocate(long bytes)
    {
        if (!Available || bytes < PageBytes)
        {
            return NativeMemory.AlignedAlloc((nuint)bytes, 64);
        }
        var memory = NativeMemory.AlignedAlloc((nuint)bytes, (nuint)PageBytes);
        // Advice only: where it fails (or no huge page is free) the pages are ordinary ones.
        _ = madvise(memory, (nuint)bytes, HugePageAdvice);
        return memory;
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            var mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
            return mode.Contains("[always]", StringComparison.Ordinal) || mode.Contains("[madvise]", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(void* address, nuint length, int advice);
}
