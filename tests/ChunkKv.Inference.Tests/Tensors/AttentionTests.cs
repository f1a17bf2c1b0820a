using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>Tiled attention against a direct double-precision softmax, including unordered subsets of query rows.</summary>
public sealed class AttentionTests
{
    [Theory]
    [InlineData(300, 300, "last", false)]        // prefill across several query and key tiles
    [InlineData(1, 700, "last", false)]          // one decoded token over a long cache
    [InlineData(45, 600, "unordered", false)]    // a scattered, unordered subset of rows, as recomputation runs
    [InlineData(300, 1100, "last", true)]        // keys in order (the usual case): tiles cut at the last visible key
    [InlineData(1, 700, "last", true)]
    [InlineData(200, 1500, "ascending", true)]   // CacheBlend's rows: a scattered subset in order, each block spanning hundreds of positions
    [InlineData(45, 600, "unordered", true)]
    public unsafe void Matches_a_direct_softmax(int rows, int keyCount, string queries, bool keysInOrder)
    {
        const int heads = 6, kvHeads = 2, headDim = 16;
        var random = new Random(rows * 31 + keyCount);
        // Key positions with gaps and repeats, in order or not; queries are a subset of them.
        var ordered = Enumerable.Range(0, keyCount).Select(i => i * 2 + (i % 3)).ToArray();
        var keyPositions = keysInOrder ? ordered : ordered.OrderBy(_ => random.Next()).ToArray();
        var queryPositions = queries switch
        {
            "last" => ordered.Skip(keyCount - rows).ToArray(),
            "ascending" => ordered.OrderBy(_ => random.Next()).Take(rows).Order().ToArray(),
            _ => ordered.OrderBy(_ => random.Next()).Take(rows).ToArray(),
        };
        var q = Fill(random, rows * heads * headDim);
        var k = Fill(random, keyCount * kvHeads * headDim);
        var v = Fill(random, keyCount * kvHeads * headDim);
        var output = new float[rows * heads * headDim];
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            Attention.Compute(Gemm.Default, pq, queryPositions, heads, headDim, pk, pv, keyPositions, kvHeads, po);
        }
        var maxError = 0.0;
        for (var r = 0; r < rows; r++)
        {
            for (var h = 0; h < heads; h++)
            {
                var g = h / (heads / kvHeads);
                var scores = new double[keyCount];
                var max = double.NegativeInfinity;
                for (var j = 0; j < keyCount; j++)
                {
                    if (keyPositions[j] > queryPositions[r])
                    {
                        scores[j] = double.NegativeInfinity;
                        continue;
                    }
                    double dot = 0;
                    for (var d = 0; d < headDim; d++)
                    {
                        dot += (double)q[(r * heads + h) * headDim + d] * k[(j * kvHeads + g) * headDim + d];
                    }
                    scores[j] = dot / Math.Sqrt(headDim);
                    max = Math.Max(max, scores[j]);
                }
                var weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                var total = weights.Sum();
                for (var d = 0; d < headDim; d++)
                {
                    double expected = 0;
                    for (var j = 0; j < keyCount; j++)
                    {
                        expected += weights[j] / total * v[(j * kvHeads + g) * headDim + d];
                    }
                    maxError = Math.Max(maxError, Math.Abs(expected - output[(r * heads + h) * headDim + d]));
                }
            }
        }
        Assert.True(maxError < 1e-5, $"max abs error {maxError:E2}");
    }

    private static float[] Fill(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}
