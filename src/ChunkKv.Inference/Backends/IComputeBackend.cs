using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Backends;

/// <summary>
/// The compute seam, after ggml's backends: every operation a forward pass and fusion need, over one
/// model's weights and a sequence's K/V. The RAG library reaches the engine through this interface
/// alone (it holds no pointer and reads no K/V buffer), so a second backend — weights kept in 16 or
/// 8 bits, a GPU — implements these operations and passes the op-by-op parity test against the CPU
/// backend (<see cref="Transformer"/>, the reference), and fusion runs on it unchanged.
/// </summary>
/// <remarks>
/// Rows are named by their slots in a <see cref="KvSequence"/> (<see cref="Rows"/>); hidden states are
/// <c>[rows, hidden]</c> row-major. Every operation that reads a layer's K/V expects the slots it reads
/// to hold that layer's K/V already (fusion fills them layer by layer).
/// </remarks>
public interface IComputeBackend
{
    /// <summary>What runs the operations, for reports: e.g. <c>cpu (openblas)</c>.</summary>
    string Name { get; }

    ModelConfig Config { get; }

    /// <summary>The model's rotary embedding (its turn tables re-position keys).</summary>
    Rope Rope { get; }

    /// <summary>An empty sequence shaped for the model.</summary>
    KvSequence NewSequence(int capacity);

    /// <summary>The rows at the given slots, at the positions those slots hold.</summary>
    RowBatch Rows(KvSequence sequence, ReadOnlySpan<int> slots);

    /// <summary>Writes layer <paramref name="layer"/> of stored K/V into the reserved slots from <paramref name="firstSlot"/> on.</summary>
    void WriteLayer(KvSequence sequence, int layer, int firstSlot, IKvLayerSource source);

    /// <summary>Turns layer <paramref name="layer"/>'s keys of <paramref name="rows"/> slots by a RoPE turn table (<see cref="Rope.TurnTable"/>), in place.</summary>
    /// <param name="onThisThread">On the calling thread only, leaving the engine's workers to the computation.</param>
    void TurnKeys(KvSequence sequence, int layer, int firstSlot, int rows, float[] cos, float[] sin, bool onThisThread);

    /// <summary>A copy of the K/V of slots <c>[firstSlot, firstSlot + count)</c>.</summary>
    KvCache ReadSlots(KvSequence sequence, int firstSlot, int count);

    /// <summary>Token embeddings into <paramref name="hidden"/>.</summary>
    void Embed(ReadOnlySpan<int> ids, Span<float> hidden);

    /// <summary>One decoder layer on the rows, in place; their K/V are written into their slots before attention.</summary>
    void ForwardLayer(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence);

    /// <summary>A prompt's last layer: every row's K/V written, the attention output and MLP for the last row alone (its logits are all that is read).</summary>
    void ForwardLastLayer(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence);

    /// <summary>Only the rows' K/V of one layer, written into their slots.</summary>
    void ComputeLayerKv(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence);

    /// <summary>As <see cref="ComputeLayerKv(int, Span{float}, RowBatch, KvSequence)"/>, with each row's <c>Σ (fresh − held)²</c> of its keys (or values).</summary>
    void ComputeLayerKv(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence, Span<double> deviation, bool ofValues);

    /// <summary>Adds the attention the rows pay each of the first <paramref name="keySlots"/> slots at one layer (softmax over those slots, every head).</summary>
    void AddAttentionWeights(int layer, ReadOnlySpan<float> hidden, RowBatch rows, KvSequence sequence, int keySlots, Span<double> weights);

    /// <summary>Final norm and language-model head of one row.</summary>
    void Logits(ReadOnlySpan<float> hidden, int row, Span<float> logits);

    /// <summary>A plain prefill of the tokens at the given positions after what the sequence holds; the last token's logits.</summary>
    float[] Prefill(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence, Action<int>? afterLayer = null);

    /// <summary>Only the K/V of the tokens at the given positions, written into the sequence: what a stored cache holds.</summary>
    void ComputeKv(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence);
}
