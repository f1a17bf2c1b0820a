using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>
/// The few-query attention against a direct double softmax, on each vector path this machine runs, with the keys
/// taken whole and split into parts whose partial softmaxes are merged (as on machines with more cores than KV heads).
/// </summary>
public sealed class DecodingAttentionTests
{
    public static TheoryData<SimdWidth, int, string> Cases()
    {
        var data = new TheoryData<SimdWidth, int, string>();
        foreach (var width in Simd.Accelerated)
        {
            foreach (var splits in new[] { 1, 2, 3 })
            {
                foreach (var shape in new[] { "decoded", "rows", "unordered", "narrow-head" })
                {
                    data.Add(width, splits, shape);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Matches_a_direct_softmax(SimdWidth width, int splits, string shape)
    {
        // A Qwen-like group of 7 query heads a KV head; "narrow-head" has a head width no vector divides (a scalar tail).
        var (heads, kvHeads, headDim) = shape == "narrow-head" ? (4, 2, 20) : (14, 2, 64);
        const int keyCount = 700;
        var random = new Random(splits * 7 + shape.Length);
        var ordered = Enumerable.Range(0, keyCount).Select(i => i * 2 + (i % 3)).ToArray();
        var keyPositions = shape == "unordered" ? ordered.OrderBy(_ => random.Next()).ToArray() : ordered;
        int[] queryPositions = shape switch
        {
            // A decoded token after the whole cache; then query rows that see part of it, one in the middle of a
            // key block and one before every key (it sees none, so its output is zeros).
            "decoded" or "narrow-head" => [ordered[^1] + 1],
            _ => [ordered[400], ordered[131] + 1, ordered[0] - 1],
        };
        var q = AttentionReference.Fill(random, queryPositions.Length * heads * headDim);
        var k = AttentionReference.Fill(random, keyCount * kvHeads * headDim);
        var v = AttentionReference.Fill(random, keyCount * kvHeads * headDim);
        var output = new float[q.Length];
        Array.Fill(output, float.NaN);
        fixed (float* pq = q, pk = k, pv = v, po = output)
        {
            DecodingAttention.Compute(pq, queryPositions, heads, headDim, pk, pv, keyPositions, kvHeads, po, width, splits);
        }
        var maxError = AttentionReference.MaxError(q, queryPositions, heads, headDim, k, v, keyPositions, kvHeads, output);
        Assert.True(maxError < 1e-5, $"max abs error {maxError:E2}");
    }

    [Fact]
    public unsafe void A_query_over_an_empty_cache_attends_to_nothing()
    {
        var q = new float[14 * 64];
        var output = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        fixed (float* pq = q, po = output)
        {
            DecodingAttention.Compute(pq, [0], 14, 64, null, null, [], 2, po, Simd.Width);
        }
        Assert.All(output, value => Assert.Equal(0f, value));
    }

    [Theory]
    [MemberData(nameof(VectorPaths.Widths), MemberType = typeof(VectorPaths))]
    public unsafe void Dots_and_weighted_sums_match_their_scalar_sums(SimdWidth width)
    {
        // 13 keys: a run of eight and a remainder; 20 wide: a vector part and a scalar tail; rows 24 floats apart.
        const int n = 13, headDim = 20, stride = 24;
        var random = new Random(5);
        var query = AttentionReference.Fill(random, headDim);
        var rows = AttentionReference.Fill(random, n * stride);
        var p = AttentionReference.Fill(random, n);
        var acc = AttentionReference.Fill(random, headDim);
        var expectedAcc = new double[headDim];
        var scores = new float[n];
        fixed (float* pq = query, pr = rows, pp = p, pa = acc, ps = scores)
        {
            for (var d = 0; d < headDim; d++)
            {
                expectedAcc[d] = acc[d] * 0.25;
                for (var j = 0; j < n; j++)
                {
                    expectedAcc[d] += (double)p[j] * rows[j * stride + d];
                }
            }
            DecodingAttention.Dots(pq, pr, stride, n, headDim, ps, width);
            DecodingAttention.WeightedSum(pp, pr, stride, n, headDim, 0.25f, pa, width);
        }
        for (var j = 0; j < n; j++)
        {
            var expected = Enumerable.Range(0, headDim).Sum(d => (double)query[d] * rows[j * stride + d]);
            Assert.True(Math.Abs(expected - scores[j]) < 1e-5, $"key {j}: {scores[j]} against {expected}");
        }
        for (var d = 0; d < headDim; d++)
        {
            Assert.True(Math.Abs(expectedAcc[d] - acc[d]) < 1e-5, $"element {d}: {acc[d]} against {expectedAcc[d]}");
        }
    }
}
