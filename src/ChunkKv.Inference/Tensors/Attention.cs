using System.Numerics.Tensors;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// Causal attention by position, tile by tile with a running softmax (no N×N buffer).
/// A query at position p sees exactly the keys at positions ≤ p, whatever order or subset the rows
/// come in; key tiles wholly after a query tile are skipped. The query heads that share a KV head
/// are stacked into one tile so K and V are read in place, never copied (grouped-query attention).
/// </summary>
public static unsafe class Attention
{
    // Measured at the Qwen2.5-0.5B shape, 2048 tokens: 64 x 512 beat 128 and 256 query rows and 128/256 keys.
    private const int QueryBlock = 64;
    private const int KeyBlock = 512;

    [ThreadStatic]
    private static float[]? scratch;

    /// <param name="q">Queries <c>[rows, heads, headDim]</c>, already rotated.</param>
    /// <param name="queryPositions">The position of each query row.</param>
    /// <param name="keys">Keys <c>[keyCount, kvHeads, headDim]</c>, rotated.</param>
    /// <param name="values">Values <c>[keyCount, kvHeads, headDim]</c>.</param>
    /// <param name="keyPositions">The position of each key.</param>
    /// <param name="output">Attention output <c>[rows, heads, headDim]</c>.</param>
    public static void Compute(IGemm gemm, float* q, ReadOnlySpan<int> queryPositions, int heads, int headDim,
        float* keys, float* values, ReadOnlySpan<int> keyPositions, int kvHeads, float* output)
    {
        var rows = queryPositions.Length;
        var keyCount = keyPositions.Length;
        var queryBlocks = (rows + QueryBlock - 1) / QueryBlock;
        var keyBlocks = (keyCount + KeyBlock - 1) / KeyBlock;
        var queryPos = queryPositions.ToArray();
        var keyPos = keyPositions.ToArray();
        var keyMin = new int[keyBlocks];
        var keyMax = new int[keyBlocks];
        var keySorted = new bool[keyBlocks];
        for (var b = 0; b < keyBlocks; b++)
        {
            var block = keyPositions.Slice(b * KeyBlock, Math.Min(KeyBlock, keyCount - b * KeyBlock));
            keyMin[b] = int.MaxValue;
            keyMax[b] = int.MinValue;
            keySorted[b] = true;
            for (var j = 0; j < block.Length; j++)
            {
                keyMin[b] = Math.Min(keyMin[b], block[j]);
                keyMax[b] = Math.Max(keyMax[b], block[j]);
                keySorted[b] &= j == 0 || block[j - 1] <= block[j];
            }
        }
        var job = new Job(gemm, q, queryPos, heads, headDim, keys, values, keyPos, kvHeads, output, keyMin, keyMax, keySorted);
        // Latest query blocks first: they see the most keys, and starting with them balances the cores.
        Workers.For(kvHeads * queryBlocks, item => job.Run(item % kvHeads, queryBlocks - 1 - item / kvHeads));
    }

    /// <summary>The first index in <c>[from, to)</c> of an ascending run whose position exceeds <paramref name="position"/>.</summary>
    private static int UpperBound(int[] positions, int from, int to, int position)
    {
        while (from < to)
        {
            var middle = (from + to) >>> 1;
            if (positions[middle] <= position)
            {
                from = middle + 1;
            }
            else
            {
                to = middle;
            }
        }
        return from;
    }

    private sealed class Job(IGemm gemm, float* q, int[] queryPositions, int heads, int headDim,
        float* keys, float* values, int[] keyPositions, int kvHeads, float* output, int[] keyMin, int[] keyMax, bool[] keySorted)
    {
        public void Run(int kvHead, int queryBlock)
        {
            var group = heads / kvHeads;
            var first = queryBlock * QueryBlock;
            var blockRows = Math.Min(QueryBlock, queryPositions.Length - first);
            var m = group * blockRows; // stacked rows: head-major, then query row
            var rowWidth = heads * headDim;
            var kvWidth = kvHeads * headDim;
            var scale = 1f / MathF.Sqrt(headDim);

            var needed = m * headDim * 2 + m * KeyBlock + m * 2;
            if (scratch is null || scratch.Length < needed)
            {
                scratch = new float[needed];
            }
            fixed (float* buffer = scratch)
            {
                var tile = buffer;                          // [m, headDim] scaled queries
                var accumulator = tile + m * headDim;       // [m, headDim] running Σ p·v
                var scores = accumulator + m * headDim;     // [m, KeyBlock]
                var runningMax = scores + m * KeyBlock;     // [m]
                var runningSum = runningMax + m;            // [m]

                var queryMin = int.MaxValue;
                var queryMax = int.MinValue;
                for (var i = 0; i < blockRows; i++)
                {
                    queryMin = Math.Min(queryMin, queryPositions[first + i]);
                    queryMax = Math.Max(queryMax, queryPositions[first + i]);
                }
                for (var h = 0; h < group; h++)
                {
                    var head = kvHead * group + h;
                    for (var i = 0; i < blockRows; i++)
                    {
                        var source = new ReadOnlySpan<float>(q + (long)(first + i) * rowWidth + head * headDim, headDim);
                        TensorPrimitives.Multiply(source, scale, new Span<float>(tile + (h * blockRows + i) * headDim, headDim));
                    }
                }
                new Span<float>(accumulator, m * headDim).Clear();
                new Span<float>(runningMax, m).Fill(float.NegativeInfinity);
                new Span<float>(runningSum, m).Clear();

                for (var kb = 0; kb < keyMin.Length; kb++)
                {
                    if (keyMin[kb] > queryMax)
                    {
                        continue; // every key in this tile comes after every query
                    }
                    var keyStart = kb * KeyBlock;
                    var n = Math.Min(KeyBlock, keyPositions.Length - keyStart);
                    if (keySorted[kb])
                    {
                        // Keys in order (the usual case): stop at the last one any query here can see.
                        n = UpperBound(keyPositions, keyStart, keyStart + n, queryMax) - keyStart;
                    }
                    var kvOffset = (long)keyStart * kvWidth + kvHead * headDim;
                    gemm.Sgemm(false, true, m, n, headDim, 1f, tile, headDim, keys + kvOffset, kvWidth, 0f, scores, n);
                    var masked = keyMax[kb] > queryMin;
                    for (var r = 0; r < m; r++)
                    {
                        var row = new Span<float>(scores + r * n, n);
                        var visible = row;
                        if (masked)
                        {
                            var position = queryPositions[first + r % blockRows];
                            if (keySorted[kb])
                            {
                                var count = UpperBound(keyPositions, keyStart, keyStart + n, position) - keyStart;
                                row[count..].Clear(); // weight 0 for keys after this query
                                visible = row[..count];
                            }
                            else
                            {
                                for (var j = 0; j < n; j++)
                                {
                                    if (keyPositions[keyStart + j] > position)
                                    {
                                        row[j] = float.NegativeInfinity;
                                    }
                                }
                            }
                        }
                        var blockMax = Kernels.Max(visible);
                        var newMax = MathF.Max(runningMax[r], blockMax);
                        if (float.IsNegativeInfinity(newMax))
                        {
                            row.Clear(); // no visible key yet for this query
                            continue;
                        }
                        var correction = MathF.Exp(runningMax[r] - newMax);
                        runningSum[r] = runningSum[r] * correction + Exponentials.ExpShiftedSum(visible, newMax);
                        runningMax[r] = newMax;
                        if (correction != 1f)
                        {
                            var acc = new Span<float>(accumulator + r * headDim, headDim);
                            TensorPrimitives.Multiply(acc, correction, acc);
                        }
                    }
                    gemm.Sgemm(false, false, m, headDim, n, 1f, scores, n, values + kvOffset, kvWidth, 1f, accumulator, headDim);
                }

                for (var h = 0; h < group; h++)
                {
                    var head = kvHead * group + h;
                    for (var i = 0; i < blockRows; i++)
                    {
                        var r = h * blockRows + i;
                        var target = new Span<float>(output + (long)(first + i) * rowWidth + head * headDim, headDim);
                        var sum = runningSum[r];
                        if (sum > 0f)
                        {
                            TensorPrimitives.Multiply(new ReadOnlySpan<float>(accumulator + r * headDim, headDim), 1f / sum, target);
                        }
                        else
                        {
                            target.Clear(); // a query that sees no key at all (only possible with a gap in positions)
                        }
                    }
                }
            }
        }
    }
}
