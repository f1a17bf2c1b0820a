namespace ChunkKv.Inference.Kv;

/// <summary>
/// The K/V of a run of tokens as something that writes one layer at a time into spans it is given:
/// a <see cref="KvCache"/> copies its arrays, a checked stored entry decodes its bytes. Fusion writes
/// each layer straight into the fused sequence's slots this way, so a stored cache is decoded once,
/// into the buffers attention reads, and layer by layer while the layers below compute.
/// </summary>
public interface IKvLayerSource
{
    int Layers { get; }
    int KvHeads { get; }
    int HeadDim { get; }

    /// <summary>The position each token's key was computed at.</summary>
    int[] Positions { get; }

    KeyForm KeyForm { get; }

    /// <summary>Writes layer <paramref name="layer"/>'s K and V, <c>[tokens, kvHeads, headDim]</c> each, into the spans (of exactly that size).</summary>
    /// <remarks>Safe to call for different layers from different threads at once.</remarks>
    void WriteLayer(int layer, Span<float> keys, Span<float> values);
}
