using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// Attention for a few query rows over many keys: a decoded token, or a short question's last rows.
/// <see cref="Attention"/>'s tiles hand each score block to the sgemm, which for a handful of query
/// rows spends more time packing the keys than multiplying; here the scores and the weighted values
/// are plain vector dot products and multiply-adds over the keys in place, a block of keys at a time
/// with a running softmax. The keys are split over the cores as well as the KV heads (each part
/// keeps its own max, sum and weighted values, merged at the end), so a model with fewer KV heads
/// than cores still uses them all.
/// </summary>
/// <remarks>
/// Measured at the Qwen2.5-0.5B shape (14 heads, 2 KV heads of 64), one query row, two Zen 3 cores,
/// with the cache pushed out of the CPU caches between layers as decoding's weights do: 529 keys
/// 145–174 → 72–76 µs a layer, 4 145 keys 950–995 → 446–490 µs. Two or more query rows were
/// 0.53–0.89× the tiles' speed, hence <see cref="MaxRows"/>. Blocks of 64 or 256 keys, and prefetching
/// the next block, did no better.
/// </remarks>
internal static unsafe class DecodingAttention
{
    /// <summary>Query rows up to which <see cref="Attention.Compute"/> takes this path: one, a decoded token (measured, see above).</summary>
    public const int MaxRows = 1;

    /// <summary>Keys scored at a time: one block's keys (or values) stay in the L1 cache while every query row reads them.</summary>
    private const int KeyBlock = 128;

    /// <summary>Fewest keys a part takes when the keys are split over the cores: below that the merge costs more than it saves.</summary>
    private const int MinKeysPerPart = 512;

    [ThreadStatic]
    private static float[]? scratch;

    /// <summary>Same contract as <see cref="Attention.Compute"/>; <paramref name="splits"/> fixes how many parts the keys go in (0: chosen from the cores).</summary>
    public static void Compute(float* q, ReadOnlySpan<int> queryPositions, int heads, int headDim,
        float* keys, float* values, ReadOnlySpan<int> keyPositions, int kvHeads, float* output, SimdWidth width, int splits = 0)
    {
        var rows = queryPositions.Length;
        var keyCount = keyPositions.Length;
        if (splits <= 0)
        {
            var wanted = (Workers.Count + kvHeads - 1) / kvHeads;
            splits = Math.Clamp(keyCount / MinKeysPerPart, 1, wanted);
        }
        var keysPerPart = (keyCount + splits - 1) / splits;
        keysPerPart = Math.Max(KeyBlock, (keysPerPart + KeyBlock - 1) / KeyBlock * KeyBlock);
        splits = Math.Max(1, (keyCount + keysPerPart - 1) / keysPerPart);

        var group = heads / kvHeads;
        var stacked = rows * group; // a KV head's query rows: query row-major, then its heads
        var partialWidth = headDim + 2; // Σ p·v, then the running max and sum
        var partialCount = splits * kvHeads * stacked * partialWidth;
        var partials = ArrayPool<float>.Shared.Rent(partialCount);
        try
        {
            fixed (int* queryPos = queryPositions, keyPos = keyPositions)
            fixed (float* partial = partials)
            {
                var job = new Job(q, queryPos, rows, heads, headDim, keys, values, keyPos, keyCount, kvHeads, partial, keysPerPart, width);
                Workers.For(splits * kvHeads, part => job.Run(part % kvHeads, part / kvHeads));
                Merge(partial, splits, kvHeads, rows, group, headDim, output);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>Each stacked row's parts rescaled to the largest max and summed: <c>Σ e^(mₛ−M)·accₛ / Σ e^(mₛ−M)·lₛ</c>.</summary>
    private static void Merge(float* partial, int splits, int kvHeads, int rows, int group, int headDim, float* output)
    {
        var stacked = rows * group;
        var partialWidth = headDim + 2;
        var heads = kvHeads * group;
        for (var kvHead = 0; kvHead < kvHeads; kvHead++)
        {
            for (var r = 0; r < stacked; r++)
            {
                float* Part(int split) => partial + ((long)(split * kvHeads + kvHead) * stacked + r) * partialWidth;
                var max = float.NegativeInfinity;
                for (var s = 0; s < splits; s++)
                {
                    max = MathF.Max(max, Part(s)[headDim]);
                }
                var target = new Span<float>(output + ((long)(r / group) * heads + kvHead * group + r % group) * headDim, headDim);
                target.Clear();
                if (float.IsNegativeInfinity(max))
                {
                    continue; // a query that sees no key at all (only possible with a gap in positions): zeros
                }
                var total = 0f;
                for (var s = 0; s < splits; s++)
                {
                    var part = Part(s);
                    if (part[headDim + 1] == 0f)
                    {
                        continue;
                    }
                    var weight = MathF.Exp(part[headDim] - max);
                    total += weight * part[headDim + 1];
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(part, headDim), weight, target, target);
                }
                TensorPrimitives.Multiply(target, 1f / total, target);
            }
        }
    }

    private sealed class Job(float* q, int* queryPositions, int rows, int heads, int headDim, float* keys, float* values,
        int* keyPositions, int keyCount, int kvHeads, float* partials, int keysPerPart, SimdWidth width)
    {
        /// <summary>One KV head's query rows over one part of the keys, into that part's partial sums.</summary>
        public void Run(int kvHead, int split)
        {
            var group = heads / kvHeads;
            var stacked = rows * group;
            var partialWidth = headDim + 2;
            var rowWidth = heads * headDim;
            var kvWidth = kvHeads * headDim;
            var scale = 1f / MathF.Sqrt(headDim);
            var needed = stacked * headDim + KeyBlock;
            if (scratch is null || scratch.Length < needed)
            {
                scratch = new float[needed];
            }
            var partial = partials + (long)(split * kvHeads + kvHead) * stacked * partialWidth;
            var queryMax = int.MinValue;
            for (var i = 0; i < rows; i++)
            {
                queryMax = Math.Max(queryMax, queryPositions[i]);
            }
            fixed (float* buffer = scratch)
            {
                var queries = buffer;
                var scores = buffer + stacked * headDim;
                for (var r = 0; r < stacked; r++)
                {
                    var source = q + (long)(r / group) * rowWidth + (kvHead * group + r % group) * headDim;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(source, headDim), scale, new Span<float>(queries + r * headDim, headDim));
                    var state = partial + r * partialWidth;
                    new Span<float>(state, headDim).Clear();
                    state[headDim] = float.NegativeInfinity;
                    state[headDim + 1] = 0f;
                }
                var end = Math.Min(keyCount, (split + 1) * keysPerPart);
                for (var start = split * keysPerPart; start < end; start += KeyBlock)
                {
                    var n = Math.Min(KeyBlock, end - start);
                    var (blockMin, blockMax) = Range(keyPositions + start, n);
                    if (blockMin > queryMax)
                    {
                        continue; // every key here comes after every query
                    }
                    var blockKeys = keys + (long)start * kvWidth + kvHead * headDim;
                    var blockValues = values + (long)start * kvWidth + kvHead * headDim;
                    for (var r = 0; r < stacked; r++)
                    {
                        var rowScores = scores; // one row's scores at a time: each is used up before the next row's
                        Dots(queries + r * headDim, blockKeys, kvWidth, n, headDim, rowScores, width);
                        var position = queryPositions[r / group];
                        if (blockMax > position)
                        {
                            for (var j = 0; j < n; j++)
                            {
                                if (keyPositions[start + j] > position)
                                {
                                    rowScores[j] = float.NegativeInfinity; // a key after this query
                                }
                            }
                        }
                        var state = partial + r * partialWidth;
                        var row = new Span<float>(rowScores, n);
                        var newMax = MathF.Max(state[headDim], Kernels.Max(row, width));
                        if (float.IsNegativeInfinity(newMax))
                        {
                            continue; // no visible key yet for this query
                        }
                        var correction = MathF.Exp(state[headDim] - newMax);
                        state[headDim + 1] = state[headDim + 1] * correction + Exponentials.ExpShiftedSum(row, newMax, width);
                        state[headDim] = newMax;
                        WeightedSum(rowScores, blockValues, kvWidth, n, headDim, correction, state, width);
                    }
                }
            }
        }
    }

    private static (int Min, int Max) Range(int* positions, int n)
    {
        var min = int.MaxValue;
        var max = int.MinValue;
        for (var j = 0; j < n; j++)
        {
            min = Math.Min(min, positions[j]);
            max = Math.Max(max, positions[j]);
        }
        return (min, max);
    }

    /// <summary><c>scores[j] = query · keys[j]</c> for <paramref name="n"/> keys <paramref name="stride"/> floats apart.</summary>
    internal static void Dots(float* query, float* keys, int stride, int n, int headDim, float* scores, SimdWidth width)
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                Dots<Vector512<float>, Lanes512>(query, keys, stride, n, headDim, scores);
                break;
            case SimdWidth.Vector256:
                Dots<Vector256<float>, Lanes256>(query, keys, stride, n, headDim, scores);
                break;
            default:
                for (var j = 0; j < n; j++)
                {
                    scores[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(query, headDim), new ReadOnlySpan<float>(keys + (long)j * stride, headDim));
                }
                break;
        }
    }

    /// <summary><c>acc = acc · correction + Σⱼ p[j] · values[j]</c> for <paramref name="n"/> value rows <paramref name="stride"/> floats apart.</summary>
    internal static void WeightedSum(float* p, float* values, int stride, int n, int headDim, float correction, float* acc, SimdWidth width)
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                WeightedSum<Vector512<float>, Lanes512>(p, values, stride, n, headDim, correction, acc);
                break;
            case SimdWidth.Vector256:
                WeightedSum<Vector256<float>, Lanes256>(p, values, stride, n, headDim, correction, acc);
                break;
            default:
                var sum = new Span<float>(acc, headDim);
                TensorPrimitives.Multiply(sum, correction, sum);
                for (var j = 0; j < n; j++)
                {
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)j * stride, headDim), p[j], sum, sum);
                }
                break;
        }
    }

    // Eight keys at a time, each with its own sum: eight independent multiply-add chains keep both FMA
    // units busy, and the sums are reduced four at a time (a lone reduction per key cost as much as the dot).
    private static void Dots<TVector, TLanes>(float* query, float* keys, int stride, int n, int headDim, float* scores)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        var vectorEnd = headDim / TLanes.Count * TLanes.Count;
        ref var qv = ref Unsafe.AsRef<float>(query);
        var j = 0;
        for (; j + 8 <= n; j += 8)
        {
            var row = keys + (long)j * stride;
            ref var k0 = ref Unsafe.AsRef<float>(row);
            ref var k1 = ref Unsafe.AsRef<float>(row + stride);
            ref var k2 = ref Unsafe.AsRef<float>(row + 2 * stride);
            ref var k3 = ref Unsafe.AsRef<float>(row + 3 * stride);
            ref var k4 = ref Unsafe.AsRef<float>(row + 4 * stride);
            ref var k5 = ref Unsafe.AsRef<float>(row + 5 * stride);
            ref var k6 = ref Unsafe.AsRef<float>(row + 6 * stride);
            ref var k7 = ref Unsafe.AsRef<float>(row + 7 * stride);
            var s0 = TLanes.Splat(0f);
            var (s1, s2, s3, s4, s5, s6, s7) = (s0, s0, s0, s0, s0, s0, s0);
            for (var d = 0; d < vectorEnd; d += TLanes.Count)
            {
                var chunk = TLanes.Load(ref qv, (nuint)d);
                s0 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k0, (nuint)d), s0);
                s1 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k1, (nuint)d), s1);
                s2 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k2, (nuint)d), s2);
                s3 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k3, (nuint)d), s3);
                s4 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k4, (nuint)d), s4);
                s5 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k5, (nuint)d), s5);
                s6 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k6, (nuint)d), s6);
                s7 = TLanes.MultiplyAdd(chunk, TLanes.Load(ref k7, (nuint)d), s7);
            }
            TLanes.SumFour(s0, s1, s2, s3).Store(scores + j);
            TLanes.SumFour(s4, s5, s6, s7).Store(scores + j + 4);
            if (vectorEnd < headDim)
            {
                for (var i = 0; i < 8; i++)
                {
                    scores[j + i] += ScalarDot(query, row + (long)i * stride, vectorEnd, headDim);
                }
            }
        }
        for (; j < n; j++)
        {
            ref var k = ref Unsafe.AsRef<float>(keys + (long)j * stride);
            var s = TLanes.Splat(0f);
            for (var d = 0; d < vectorEnd; d += TLanes.Count)
            {
                s = TLanes.MultiplyAdd(TLanes.Load(ref qv, (nuint)d), TLanes.Load(ref k, (nuint)d), s);
            }
            scores[j] = TLanes.Sum(s) + ScalarDot(query, keys + (long)j * stride, vectorEnd, headDim);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScalarDot(float* a, float* b, int from, int to)
    {
        var sum = 0f;
        for (var d = from; d < to; d++)
        {
            sum += a[d] * b[d];
        }
        return sum;
    }

    // Four vectors of the head at a time, held in registers over all the keys, with even and odd keys
    // summed apart: eight independent multiply-add chains (four alone waited on the FMA latency).
    private static void WeightedSum<TVector, TLanes>(float* p, float* values, int stride, int n, int headDim, float correction, float* acc)
        where TVector : struct
        where TLanes : ILanes<TVector>
    {
        var lanes = TLanes.Count;
        ref var a = ref Unsafe.AsRef<float>(acc);
        var scale = TLanes.Splat(correction);
        var zero = TLanes.Splat(0f);
        var d = 0;
        for (; d + 4 * lanes <= headDim; d += 4 * lanes)
        {
            var a0 = TLanes.Multiply(TLanes.Load(ref a, (nuint)d), scale);
            var a1 = TLanes.Multiply(TLanes.Load(ref a, (nuint)(d + lanes)), scale);
            var a2 = TLanes.Multiply(TLanes.Load(ref a, (nuint)(d + 2 * lanes)), scale);
            var a3 = TLanes.Multiply(TLanes.Load(ref a, (nuint)(d + 3 * lanes)), scale);
            var (b0, b1, b2, b3) = (zero, zero, zero, zero);
            // The value rows walked by pointer: an index times the stride per key cost more than the loads.
            var v = values + d;
            var pair = 2L * stride;
            var j = 0;
            for (; j + 2 <= n; j += 2, v += pair)
            {
                ref var first = ref Unsafe.AsRef<float>(v);
                ref var second = ref Unsafe.AsRef<float>(v + stride);
                var even = TLanes.Splat(p[j]);
                var odd = TLanes.Splat(p[j + 1]);
                a0 = TLanes.MultiplyAdd(even, TLanes.Load(ref first, 0), a0);
                a1 = TLanes.MultiplyAdd(even, TLanes.Load(ref first, (nuint)lanes), a1);
                a2 = TLanes.MultiplyAdd(even, TLanes.Load(ref first, (nuint)(2 * lanes)), a2);
                a3 = TLanes.MultiplyAdd(even, TLanes.Load(ref first, (nuint)(3 * lanes)), a3);
                b0 = TLanes.MultiplyAdd(odd, TLanes.Load(ref second, 0), b0);
                b1 = TLanes.MultiplyAdd(odd, TLanes.Load(ref second, (nuint)lanes), b1);
                b2 = TLanes.MultiplyAdd(odd, TLanes.Load(ref second, (nuint)(2 * lanes)), b2);
                b3 = TLanes.MultiplyAdd(odd, TLanes.Load(ref second, (nuint)(3 * lanes)), b3);
            }
            if (j < n)
            {
                ref var first = ref Unsafe.AsRef<float>(v);
                var last = TLanes.Splat(p[j]);
                a0 = TLanes.MultiplyAdd(last, TLanes.Load(ref first, 0), a0);
                a1 = TLanes.MultiplyAdd(last, TLanes.Load(ref first, (nuint)lanes), a1);
                a2 = TLanes.MultiplyAdd(last, TLanes.Load(ref first, (nuint)(2 * lanes)), a2);
                a3 = TLanes.MultiplyAdd(last, TLanes.Load(ref first, (nuint)(3 * lanes)), a3);
            }
            TLanes.Store(TLanes.Add(a0, b0), ref a, (nuint)d);
            TLanes.Store(TLanes.Add(a1, b1), ref a, (nuint)(d + lanes));
            TLanes.Store(TLanes.Add(a2, b2), ref a, (nuint)(d + 2 * lanes));
            TLanes.Store(TLanes.Add(a3, b3), ref a, (nuint)(d + 3 * lanes));
        }
        for (; d + lanes <= headDim; d += lanes)
        {
            var a0 = TLanes.Multiply(TLanes.Load(ref a, (nuint)d), scale);
            for (var j = 0; j < n; j++)
            {
                a0 = TLanes.MultiplyAdd(TLanes.Splat(p[j]), TLanes.Load(ref Unsafe.AsRef<float>(values + (long)j * stride + d), 0), a0);
            }
            TLanes.Store(a0, ref a, (nuint)d);
        }
        for (; d < headDim; d++)
        {
            var sum = acc[d] * correction;
            for (var j = 0; j < n; j++)
            {
                sum += p[j] * values[(long)j * stride + d];
            }
            acc[d] = sum;
        }
    }
}
