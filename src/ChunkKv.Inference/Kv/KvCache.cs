namespace ChunkKv.Inference.Kv;

/// <summary>Whether stored keys already carry their rotary position embedding.</summary>
public enum KeyForm : byte
{
    /// <summary>Keys before RoPE: re-positioning is one RoPE application at the new positions.</summary>
    PreRope = 0,

    /// <summary>Keys after RoPE at <see cref="KvCache.Positions"/>: re-positioning rotates by the difference.</summary>
    PostRope = 1,
}

/// <summary>
/// The keys and values of a run of tokens, for every layer. Per layer, K and V are row-major
/// <c>[tokens, kvHeads, headDim]</c> (the layout the projections produce), so token ranges are
/// contiguous and concatenating chunks is a copy. Positions are explicit per token: the cache of
/// a chunk computed alone starts at 0, one computed after a prefix does not.
/// </summary>
public sealed class KvCache : IKvLayerSource
{
    /// <summary>A zeroed cache of the given shape.</summary>
    public KvCache(int layers, int kvHeads, int headDim, int[] positions, KeyForm keyForm)
        : this(kvHeads, headDim, positions, keyForm,
            Allocate(layers, positions.Length * kvHeads * headDim), Allocate(layers, positions.Length * kvHeads * headDim))
    {
    }

    /// <summary>A cache over existing per-layer arrays, each of <c>positions.Length * kvHeads * headDim</c> floats.</summary>
    public KvCache(int kvHeads, int headDim, int[] positions, KeyForm keyForm, float[][] keys, float[][] values)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentNullException.ThrowIfNull(positions);
        if (keys.Length == 0 || keys.Length != values.Length)
        {
            throw new ArgumentException($"need the same, non-zero number of key and value layers (got {keys.Length} and {values.Length})");
        }
        var expected = positions.Length * kvHeads * headDim;
        for (var layer = 0; layer < keys.Length; layer++)
        {
            if (keys[layer].Length != expected || values[layer].Length != expected)
            {
                throw new ArgumentException(
                    $"layer {layer}: K has {keys[layer].Length} and V {values[layer].Length} floats; expected {expected} " +
                    $"({positions.Length} tokens x {kvHeads} heads x {headDim})");
            }
        }
        KvHeads = kvHeads;
        HeadDim = headDim;
        Positions = positions;
        KeyForm = keyForm;
        Keys = keys;
        Values = values;
    }

    public int Layers => Keys.Length;
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int Tokens => Positions.Length;

    /// <summary>Floats per token per layer in K (and in V): <c>kvHeads * headDim</c>.</summary>
    public int RowWidth => KvHeads * HeadDim;

    /// <summary>The position each token's key was computed at.</summary>
    public int[] Positions { get; }

    public KeyForm KeyForm { get; }

    /// <summary>Per layer, <c>[tokens, kvHeads, headDim]</c>.</summary>
    public float[][] Keys { get; }

    /// <summary>Per layer, <c>[tokens, kvHeads, headDim]</c>.</summary>
    public float[][] Values { get; }

    public void WriteLayer(int layer, Span<float> keys, Span<float> values)
    {
        Keys[layer].CopyTo(keys);
        Values[layer].CopyTo(values);
    }

    /// <summary>
    /// A cache of the given shape whose arrays are not zeroed, for callers that overwrite every
    /// element (decoding a stored entry): zeroing megabytes that are written again right after
    /// costs more than the decode itself.
    /// </summary>
    public static KvCache Uninitialized(int layers, int kvHeads, int headDim, int[] positions, KeyForm keyForm)
    {
        ArgumentNullException.ThrowIfNull(positions);
        var floats = positions.Length * kvHeads * headDim;
        return new KvCache(kvHeads, headDim, positions, keyForm,
            Allocate(layers, floats, zeroed: false), Allocate(layers, floats, zeroed: false));
    }

    private static float[][] Allocate(int layers, int floats, bool zeroed = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegative(floats);
        var arrays = new float[layers][];
        for (var i = 0; i < layers; i++)
        {
            arrays[i] = zeroed ? new float[floats] : GC.AllocateUninitializedArray<float>(floats);
        }
        return arrays;
    }
}
