using System.Numerics.Tensors;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// A plain GEMM in managed code: the fallback where OpenBLAS is missing and the reference the
/// OpenBLAS path is tested against. Row by row with SIMD dot products and AXPYs; correct first.
/// </summary>
public sealed class ManagedGemm : IGemm
{
    public static readonly ManagedGemm Instance = new();

    private ManagedGemm()
    {
    }

    public string Name => "managed";

    public unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        var column = transA ? new float[k] : null;
        for (var i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f)
            {
                row.Clear();
            }
            else if (beta != 1f)
            {
                TensorPrimitives.Multiply(row, beta, row);
            }
            ReadOnlySpan<float> aRow;
            if (transA)
            {
                for (var p = 0; p < k; p++)
                {
                    column![p] = a[(long)p * lda + i];
                }
                aRow = column;
            }
            else
            {
                aRow = new ReadOnlySpan<float>(a + (long)i * lda, k);
            }
            if (transB)
            {
                for (var j = 0; j < n; j++)
                {
                    row[j] += alpha * TensorPrimitives.Dot(aRow, new ReadOnlySpan<float>(b + (long)j * ldb, k));
                }
            }
            else
            {
                for (var p = 0; p < k; p++)
                {
                    var scale = alpha * aRow[p];
                    if (scale != 0f)
                    {
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)p * ldb, n), scale, row, row);
                    }
                }
            }
        }
    }
}
