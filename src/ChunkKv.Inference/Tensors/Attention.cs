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
        if (rows <= DecodingAttention.MaxRows)
        {
            // A decoded token: packing the keys for the sgemm would cost more than the dots themselves.
            DecodingAttention.Compute(q, queryPositions, heads, headDim, keys, values, keyPositions, kvHeads, output, Simd.Width);
            return;
        }
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

    /// <summary>
    /// Past the keys every query of a block sees, keys go in runs of this many, each scored only for the
    /// queries that see its first key. Recomputation's scattered queries (CacheBlend's 15 % of a 4096-token
    /// prompt) span hundreds of positions a block, and scoring every key up to the block's last position
    /// for all of them made their attention 9 % slower than it is this way (658 rows, 4144 keys, Qwen2.5-0.5B
    /// heads, medians of 4); a contiguous prefill was within ±2 % with runs of 64 or 128.
    /// </summary>
    private const int DiagonalKeys = 128;

    private sealed class Job(IGemm gemm, float* q, int[] queryPositions, int heads, int headDim,
        float* keys, float* values, int[] keyPositions, int kvHeads, float* output, int[] keyMin, int[] keyMax, bool[] keySorted)
    {
        public void Run(int kvHead, int queryBlock)
        {
            var group = heads / kvHeads;
            var first = queryBlock * QueryBlock;
            var blockRows = Math.Min(QueryBlock, queryPositions.Length - first);
            var m = group * blockRows; // stacked rows: query row-major, then its heads, so a run of queries is a run of tile rows
            var rowWidth = heads * headDim;
            var scale = 1f / MathF.Sqrt(headDim);

            var needed = m * headDim * 2 + m * KeyBlock + m * 2;
            if (scratch is null || scratch.Length < needed)
            {
                scratch = new float[needed];
            }
            fixed (float* buffer = scratch)
            {
                var state = new TileState(buffer, m, headDim);
                var queryMin = int.MaxValue;
                var queryMax = int.MinValue;
                var ascending = true;
                for (var i = 0; i < blockRows; i++)
                {
                    var position = queryPositions[first + i];
                    queryMin = Math.Min(queryMin, position);
                    queryMax = Math.Max(queryMax, position);
                    ascending &= i == 0 || queryPositions[first + i - 1] <= position;
                    for (var h = 0; h < group; h++)
                    {
                        var source = new ReadOnlySpan<float>(q + (long)(first + i) * rowWidth + (kvHead * group + h) * headDim, headDim);
                        TensorPrimitives.Multiply(source, scale, new Span<float>(state.Queries + (i * group + h) * headDim, headDim));
                    }
                }

                for (var kb = 0; kb < keyMin.Length; kb++)
                {
                    if (keyMin[kb] > queryMax)
                    {
                        continue; // every key in this tile comes after every query
                    }
                    var keyStart = kb * KeyBlock;
                    var n = Math.Min(KeyBlock, keyPositions.Length - keyStart);
                    var masked = keyMax[kb] > queryMin;
                    if (!keySorted[kb])
                    {
                        Tile(state, kvHead, first, group, keyStart, n, fromRow: 0, masked, sorted: false);
                        continue;
                    }
                    // Keys in order (the usual case): stop at the last one any query here can see.
                    n = UpperBound(keyPositions, keyStart, keyStart + n, queryMax) - keyStart;
                    if (!masked || !ascending)
                    {
                        Tile(state, kvHead, first, group, keyStart, n, fromRow: 0, masked, sorted: true);
                        continue;
                    }
                    // The keys every query sees, then the rest in runs of DiagonalKeys, each for the queries
                    // that see its first key: with the queries ascending, a suffix of the block's rows.
                    var seenByAll = UpperBound(keyPositions, keyStart, keyStart + n, queryMin) - keyStart;
                    Tile(state, kvHead, first, group, keyStart, seenByAll, fromRow: 0, masked: false, sorted: true);
                    for (var from = seenByAll; from < n; from += DiagonalKeys)
                    {
                        var count = Math.Min(DiagonalKeys, n - from);
                        var firstQuery = LowerBound(queryPositions, first, first + blockRows, keyPositions[keyStart + from]) - first;
                        Tile(state, kvHead, first, group, keyStart + from, count, firstQuery * group, masked: true, sorted: true);
                    }
                }

                for (var i = 0; i < blockRows; i++)
                {
                    for (var h = 0; h < group; h++)
                    {
                        var r = i * group + h;
                        var target = new Span<float>(output + (long)(first + i) * rowWidth + (kvHead * group + h) * headDim, headDim);
                        var sum = state.RunningSum[r];
                        if (sum > 0f)
                        {
                            TensorPrimitives.Multiply(new ReadOnlySpan<float>(state.Accumulator + r * headDim, headDim), 1f / sum, target);
                        }
                        else
                        {
                            target.Clear(); // a query that sees no key at all (only possible with a gap in positions)
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Keys <c>[keyStart, keyStart + n)</c> for the stacked rows from <paramref name="fromRow"/> on: their scores, the running
        /// softmax, and the weighted values into the accumulator. Masked: each row sees only the keys at or before its position.
        /// </summary>
        private void Tile(TileState state, int kvHead, int first, int group, int keyStart, int n, int fromRow, bool masked, bool sorted)
        {
            var rows = state.Rows - fromRow;
            if (n <= 0 || rows <= 0)
            {
                return;
            }
            var kvWidth = kvHeads * headDim;
            var kvOffset = (long)keyStart * kvWidth + kvHead * headDim;
            var scores = state.Scores;
            gemm.Sgemm(false, true, rows, n, headDim, 1f, state.Queries + fromRow * headDim, headDim, keys + kvOffset, kvWidth, 0f, scores, n);
            for (var i = 0; i < rows; i++)
            {
                var r = fromRow + i;
                var row = new Span<float>(scores + i * n, n);
                var visible = row;
                if (masked)
                {
                    var position = queryPositions[first + r / group];
                    if (sorted)
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
                var newMax = MathF.Max(state.RunningMax[r], blockMax);
                if (float.IsNegativeInfinity(newMax))
                {
                    row.Clear(); // no visible key yet for this query
                    continue;
                }
                var correction = MathF.Exp(state.RunningMax[r] - newMax);
                state.RunningSum[r] = state.RunningSum[r] * correction + Exponentials.ExpShiftedSum(visible, newMax);
                state.RunningMax[r] = newMax;
                if (correction != 1f)
                {
                    var acc = new Span<float>(state.Accumulator + r * headDim, headDim);
                    TensorPrimitives.Multiply(acc, correction, acc);
                }
            }
            gemm.Sgemm(false, false, rows, headDim, n, 1f, scores, n, values + kvOffset, kvWidth, 1f, state.Accumulator + fromRow * headDim, headDim);
        }
    }

    /// <summary>One query block's buffers in the thread's scratch: scaled queries, Σ p·v, one tile of scores, running max and sum.</summary>
    private readonly struct TileState
    {
        public TileState(float* buffer, int rows, int headDim)
        {
            Rows = rows;
            Queries = buffer;
            Accumulator = Queries + rows * headDim;
            Scores = Accumulator + rows * headDim;
            RunningMax = Scores + rows * KeyBlock;
            RunningSum = RunningMax + rows;
            new Span<float>(Accumulator, rows * headDim).Clear();
            new Span<float>(RunningMax, rows).Fill(float.NegativeInfinity);
            new Span<float>(RunningSum, rows).Clear();
        }

        public int Rows { get; }
        public float* Queries { get; }
        public float* Accumulator { get; }
        public float* Scores { get; }
        public float* RunningMax { get; }
        public float* RunningSum { get; }
    }

    /// <summary>The first index in <c>[from, to)</c> of an ascending run whose position is at least <paramref name="position"/>.</summary>
    private static int LowerBound(int[] positions, int from, int to, int position)
    {
        while (from < to)
        {
            var middle = (from + to) >>> 1;
            if (positions[middle] < position)
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
}
