namespace ChunkKv.Inference.Tensors;

/// <summary>
/// Single-precision GEMM on row-major matrices: <c>C = alpha * op(A) * op(B) + beta * C</c>, where
/// op transposes when asked. Leading dimensions are explicit so a head's slice of a wider row
/// (Q, K, V heads side by side) is used in place. One call runs on the calling thread; callers
/// split work across cores (see <see cref="Workers"/>).
/// </summary>
public interface IGemm
{
    string Name { get; }

    unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
}

/// <summary>Chooses the GEMM: OpenBLAS when it loads, the managed kernel otherwise or when asked.</summary>
public static class Gemm
{
    private static readonly Lazy<IGemm> Selected = new(Select);

    /// <summary>OpenBLAS unless <c>CHUNKKV_GEMM=managed</c> or the library is missing.</summary>
    public static IGemm Default => Selected.Value;

    private static IGemm Select()
    {
        var requested = Environment.GetEnvironmentVariable("CHUNKKV_GEMM");
        if (string.Equals(requested, "managed", StringComparison.OrdinalIgnoreCase))
        {
            return ManagedGemm.Instance;
        }
        if (OpenBlas.IsAvailable)
        {
            return OpenBlasGemm.Instance;
        }
        if (string.Equals(requested, "openblas", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"CHUNKKV_GEMM=openblas but {OpenBlas.UnavailableReason}");
        }
        return ManagedGemm.Instance;
    }
}

/// <summary><c>cblas_sgemm</c> from OpenBLAS, single-threaded per call.</summary>
public sealed class OpenBlasGemm : IGemm
{
    public static readonly OpenBlasGemm Instance = new();

    private OpenBlasGemm()
    {
    }

    public string Name => $"openblas ({OpenBlas.CoreName})";

    public unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m == 0 || n == 0)
        {
            return;
        }
        OpenBlas.cblas_sgemm(OpenBlas.Order.RowMajor,
            transA ? OpenBlas.Transpose.Yes : OpenBlas.Transpose.No,
            transB ? OpenBlas.Transpose.Yes : OpenBlas.Transpose.No,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
