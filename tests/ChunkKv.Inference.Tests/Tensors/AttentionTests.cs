using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>
/// Attention against a direct double-precision softmax, including unordered subsets of query rows: the tiles, and for one
/// decoded row the path <see cref="Attention.Compute"/> hands it to (<see cref="DecodingAttentionTests"/> tests that one alone).
/// </summary>
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
        var q = AttentionReference.Fill(random, rows * heads * headDim);
        var k = AttentionReference.Fill(random, keyCount * kvHeads * headDim);
        var v = AttentionReference.Fill(random, keyCount * kvHeads * headDim);
        var output = new float[rows * heads * headDim];
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            Attention.Compute(Gemm.Default, pq, queryPositions, heads, headDim, pk, pv, keyPositions, kvHeads, po);
        }
        var maxError = AttentionReference.MaxError(q, queryPositions, heads, headDim, k, v, keyPositions, kvHeads, output);
        Assert.True(maxError < 1e-5, $"max abs error {maxError:E2}");
    }
}
