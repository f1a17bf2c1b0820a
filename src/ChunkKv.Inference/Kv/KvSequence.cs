namespace ChunkKv.Inference.Kv;

/// <summary>
/// The working KV cache of one sequence being computed: per layer, rotated keys and values for
/// <see cref="Count"/> token slots, <c>[slot, kvHeads, headDim]</c>, with the position of each slot
/// kept beside them. Slots need not hold consecutive positions: fused chunks, recomputed subsets
/// and decoded tokens are all just slots with positions. Grows by doubling.
/// </summary>
public sealed class KvSequence
{
    public KvSequence(int layers, int kvHeads, int headDim, int capacity = 256)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        Keys = new float[layers][];
        Values = new float[layers][];
        Positions = [];
        Resize(Math.Max(1, capacity));
    }

    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int RowWidth => KvHeads * HeadDim;
    public int Count { get; private set; }
    public int Capacity => Positions.Length;

    /// <summary>Position of each slot; the first <see cref="Count"/> are in use.</summary>
    public int[] Positions { get; private set; }

    /// <summary>Per layer, rotated keys <c>[Capacity, kvHeads, headDim]</c>.</summary>
    public float[][] Keys { get; }

    /// <summary>Per layer, values <c>[Capacity, kvHeads, headDim]</c>.</summary>
    public float[][] Values { get; }

    /// <summary>Adds slots for tokens at the given positions (their K/V are written by the forward pass); returns the first slot.</summary>
    public int Reserve(ReadOnlySpan<int> positions)
    {
        EnsureCapacity(Count + positions.Length);
        var first = Count;
        positions.CopyTo(Positions.AsSpan(first));
        Count += positions.Length;
        return first;
    }

    /// <summary>Appends a stored cache whose keys are rotated at its positions (<see cref="KeyForm.PostRope"/>); returns the first slot.</summary>
    public int Append(IKvLayerSource cache)
    {
        var first = Reserve(CheckJoins(cache).Positions);
        for (var layer = 0; layer < Layers; layer++)
        {
            WriteLayer(layer, first, cache);
        }
        return first;
    }

    /// <summary>
    /// Throws unless <paramref name="cache"/>'s shape is the sequence's and its keys are rotated
    /// (<see cref="KeyForm.PostRope"/>): what a cache needs to fill slots.
    /// </summary>
    public IKvLayerSource CheckJoins(IKvLayerSource cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Layers != Layers || cache.KvHeads != KvHeads || cache.HeadDim != HeadDim)
        {
            throw new ArgumentException(
                $"cache shape {cache.Layers}x{cache.KvHeads}x{cache.HeadDim} does not match the sequence's {Layers}x{KvHeads}x{HeadDim}");
        }
        if (cache.KeyForm != KeyForm.PostRope)
        {
            throw new ArgumentException("only rotated (post-RoPE) keys can join a sequence; re-position the cache first");
        }
        return cache;
    }

    /// <summary>Writes layer <paramref name="layer"/> of <paramref name="cache"/> into the reserved slots from <paramref name="firstSlot"/> on.</summary>
    public void WriteLayer(int layer, int firstSlot, IKvLayerSource cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var tokens = cache.Positions.Length;
        ArgumentOutOfRangeException.ThrowIfNegative(firstSlot);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstSlot + tokens, Count);
        cache.WriteLayer(layer, Keys[layer].AsSpan(firstSlot * RowWidth, tokens * RowWidth),
            Values[layer].AsSpan(firstSlot * RowWidth, tokens * RowWidth));
    }

    /// <summary>A copy of slots <c>[start, start + count)</c> as a cache (keys rotated at their positions).</summary>
    public KvCache Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, Count);
        var keys = new float[Layers][];
        var values = new float[Layers][];
        for (var layer = 0; layer < Layers; layer++)
        {
            keys[layer] = Keys[layer].AsSpan(start * RowWidth, count * RowWidth).ToArray();
            values[layer] = Values[layer].AsSpan(start * RowWidth, count * RowWidth).ToArray();
        }
        return new KvCache(KvHeads, HeadDim, Positions.AsSpan(start, count).ToArray(), KeyForm.PostRope, keys, values);
    }

    /// <summary>
    /// Every slot as a cache. When the sequence is exactly full the cache shares its arrays (no copy,
    /// no fresh pages to fault in), so the sequence must not be written afterwards; otherwise a copy.
    /// </summary>
    public KvCache ShareAsCache() => Count == Capacity
        ? new KvCache(KvHeads, HeadDim, Positions, KeyForm.PostRope, (float[][])Keys.Clone(), (float[][])Values.Clone())
        : Slice(0, Count);

    /// <summary>Drops the slots from <paramref name="count"/> on (e.g. to reuse a prefix).</summary>
    public void Truncate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed > Capacity)
        {
            Resize(Math.Max(needed, Capacity * 2));
        }
    }

    private void Resize(int capacity)
    {
        var positions = new int[capacity];
        Positions.AsSpan(0, Count).CopyTo(positions);
        Positions = positions;
        for (var layer = 0; layer < Layers; layer++)
        {
            Keys[layer] = Grow(Keys[layer], capacity);
            Values[layer] = Grow(Values[layer], capacity);
        }
    }

    private float[] Grow(float[]? old, int capacity)
    {
        var grown = GC.AllocateUninitializedArray<float>(capacity * RowWidth);
        old?.AsSpan(0, Count * RowWidth).CopyTo(grown);
        return grown;
    }
}
