using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Kv;

/// <summary>
/// Moves cached keys to new positions. RoPE turns each pair of a key by <c>position × frequency</c>, so a
/// key computed at p moves to p' by one more turn of <c>(p' − p) × frequency</c>; values carry no position.
/// </summary>
public static class KvRepositioning
{
    /// <summary>A copy of <paramref name="cache"/> with keys rotated for <paramref name="positions"/> (post-RoPE).</summary>
    public static KvCache Reposition(this KvCache cache, Rope rope, int[] positions)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(rope);
        ArgumentNullException.ThrowIfNull(positions);
        if (positions.Length != cache.Tokens)
        {
            throw new ArgumentException($"{positions.Length} positions for a cache of {cache.Tokens} tokens");
        }
        if (rope.HeadDim != cache.HeadDim)
        {
            throw new ArgumentException($"RoPE head dim {rope.HeadDim} does not match the cache's {cache.HeadDim}");
        }
        // Pre-RoPE keys turn by the new position; rotated ones by the difference.
        var turns = new int[positions.Length];
        for (var i = 0; i < turns.Length; i++)
        {
            turns[i] = cache.KeyForm == KeyForm.PreRope ? positions[i] : positions[i] - cache.Positions[i];
        }
        return cache.Rotated(rope, turns, positions.ToArray(), KeyForm.PostRope);
    }

    /// <summary>
    /// Moves slots <c>[firstSlot, firstSlot + positions.Length)</c> of <paramref name="sequence"/> to
    /// <paramref name="positions"/> in place: every layer's keys turn by the difference, no copy is made.
    /// </summary>
    public static void Reposition(this KvSequence sequence, Rope rope, int firstSlot, ReadOnlySpan<int> positions)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        ArgumentNullException.ThrowIfNull(rope);
        ArgumentOutOfRangeException.ThrowIfNegative(firstSlot);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstSlot + positions.Length, sequence.Count);
        var current = sequence.Positions.AsSpan(firstSlot, positions.Length);
        if (rope.TurnTable(current, positions) is not { } table)
        {
            return;
        }
        var (cos, sin) = table;
        for (var layer = 0; layer < sequence.Layers; layer++)
        {
            sequence.TurnKeys(rope, layer, firstSlot, positions.Length, cos, sin);
        }
        positions.CopyTo(current);
    }

    /// <summary>The RoPE table that turns keys at positions <paramref name="from"/> to <paramref name="to"/>; null when none moves.</summary>
    public static (float[] Cos, float[] Sin)? TurnTable(this Rope rope, ReadOnlySpan<int> from, ReadOnlySpan<int> to)
    {
        ArgumentNullException.ThrowIfNull(rope);
        var turns = new int[to.Length];
        var moved = false;
        for (var i = 0; i < turns.Length; i++)
        {
            turns[i] = to[i] - from[i];
            moved |= turns[i] != 0;
        }
        return moved ? rope.Table(turns) : null;
    }

    /// <summary>
    /// Turns layer <paramref name="layer"/>'s keys of slots <c>[firstSlot, firstSlot + rows)</c> by a
    /// table from <see cref="Rope.Table"/> of the turns (new position − old), in place; positions are
    /// the caller's to update. One layer of <see cref="Reposition(KvSequence, Rope, int, ReadOnlySpan{int})"/>,
    /// for filling a sequence a layer at a time.
    /// </summary>
    /// <param name="onThisThread">Turn them on the calling thread only, leaving the engine's workers to the computation.</param>
    public static unsafe void TurnKeys(this KvSequence sequence, Rope rope, int layer, int firstSlot, int rows, float[] cos, float[] sin,
        bool onThisThread = false)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        ArgumentNullException.ThrowIfNull(rope);
        ArgumentOutOfRangeException.ThrowIfNegative(firstSlot);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstSlot + rows, sequence.Count);
        fixed (float* k = sequence.Keys[layer])
        {
            var keys = k + (long)firstSlot * sequence.RowWidth;
            if (onThisThread)
            {
                rope.ApplyOnThisThread(keys, rows, sequence.KvHeads, cos, sin);
            }
            else
            {
                rope.Apply(keys, rows, sequence.KvHeads, cos, sin);
            }
        }
    }

    /// <summary>A copy with keys turned back to before RoPE (the form that re-positions with one rotation).</summary>
    public static KvCache WithoutRope(this KvCache cache, Rope rope)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.KeyForm == KeyForm.PreRope)
        {
            return cache;
        }
        var turns = cache.Positions.Select(p => -p).ToArray();
        return cache.Rotated(rope, turns, cache.Positions.ToArray(), KeyForm.PreRope);
    }

    private static unsafe KvCache Rotated(this KvCache cache, Rope rope, int[] turns, int[] positions, KeyForm form)
    {
        var (cos, sin) = rope.Table(turns);
        var keys = new float[cache.Layers][];
        for (var layer = 0; layer < cache.Layers; layer++)
        {
            keys[layer] = (float[])cache.Keys[layer].Clone();
            fixed (float* k = keys[layer])
            {
                rope.Apply(k, cache.Tokens, cache.KvHeads, cos, sin);
            }
        }
        var values = cache.Values.Select(v => (float[])v.Clone()).ToArray();
        return new KvCache(cache.KvHeads, cache.HeadDim, positions, form, keys, values);
    }
}
