using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>Both GEMMs against a double-precision triple loop, with strided operands and every transpose.</summary>
public sealed class GemmTests
{
    public static TheoryData<string, bool, bool> Cases()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (var name in new[] { "managed", "openblas" })
        {
            foreach (var transA in new[] { false, true })
            {
                foreach (var transB in new[] { false, true })
                {
                    data.Add(name, transA, transB);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Sgemm_matches_a_double_precision_loop(string name, bool transA, bool transB)
    {
        IGemm gemm = name == "managed" ? ManagedGemm.Instance : OpenBlasGemm.Instance;
        Assert.True(name == "managed" || OpenBlas.IsAvailable, OpenBlas.UnavailableReason);
        const int m = 37, n = 53, k = 71, pad = 5;
        var random = new Random(3);
        // Stored row-major with padded leading dimensions, as heads inside a wider row are.
        var (aRows, aCols) = transA ? (k, m) : (m, k);
        var (bRows, bCols) = transB ? (n, k) : (k, n);
        var a = Fill(random, aRows * (aCols + pad));
        var b = Fill(random, bRows * (bCols + pad));
        var c = Fill(random, m * (n + pad));
        var expected = new double[m * n];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var p = 0; p < k; p++)
                {
                    var av = transA ? a[p * (aCols + pad) + i] : a[i * (aCols + pad) + p];
                    var bv = transB ? b[j * (bCols + pad) + p] : b[p * (bCols + pad) + j];
                    sum += (double)av * bv;
                }
                expected[i * n + j] = 0.5 * sum + 2.0 * c[i * (n + pad) + j];
            }
        }
        var padding = Enumerable.Range(0, m).Select(i => c[i * (n + pad) + n]).ToArray();
        fixed (float* pa = a, pb = b, pc = c)
        {
            gemm.Sgemm(transA, transB, m, n, k, 0.5f, pa, aCols + pad, pb, bCols + pad, 2f, pc, n + pad);
        }
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                Assert.True(Math.Abs(expected[i * n + j] - c[i * (n + pad) + j]) < 1e-4, $"C[{i},{j}]");
            }
            Assert.Equal(padding[i], c[i * (n + pad) + n]); // nothing written past n
        }
    }

    [Fact]
    public void OpenBlas_runs_the_avx512_kernel_where_the_cpu_has_it()
    {
        Assert.True(OpenBlas.IsAvailable, OpenBlas.UnavailableReason);
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && Environment.GetEnvironmentVariable("CHUNKKV_OPENBLAS_CORETYPE") is null)
        {
            Assert.Equal("SkylakeX", OpenBlas.RequestedCore);
            Assert.Contains("skylakex", OpenBlas.CoreName, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal("openblas", Gemm.Default.Name.Split(' ')[0]);
    }

    private static float[] Fill(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}
