using System.Collections.Concurrent;
using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Models;

/// <summary>
/// A Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3) run layer by layer. The layer API is
/// what fusion builds on: any subset of token rows can be run through a layer, writing their K/V
/// into their slots of a <see cref="KvSequence"/> and attending over every slot by the exact causal
/// rule on positions. Safe to call from several threads with different sequences. It is the CPU
/// compute backend (<see cref="IComputeBackend"/>), the reference every other backend is checked against.
/// </summary>
public sealed unsafe class Transformer : IComputeBackend, IDisposable
{
    /// <summary>
    /// The version of how this engine computes K/V. Bump it with any change that alters the K/V
    /// bits a prefill produces (a kernel's rounding, RoPE, attention order): stored chunk caches are
    /// keyed by it, so caches computed by older code are never reused by newer code.
    /// </summary>
    public const int KvComputeVersion = 1;

    private readonly ConcurrentBag<Workspace> workspaces = [];

    public Transformer(ModelConfig config, ModelWeights weights, IGemm? gemm = null)
    {
        Config = config;
        Weights = weights;
        Gemm = gemm ?? Tensors.Gemm.Default;
        Rope = new Rope(config.HeadDim, config.RopeTheta, config.RopeScaling);
    }

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public IGemm Gemm { get; }
    public Rope Rope { get; }

    public string Name => $"cpu ({Gemm.Name})";

    /// <summary>An empty working cache shaped for this model.</summary>
    public KvSequence NewSequence(int capacity = 256) => new(Config.Layers, Config.KvHeads, Config.HeadDim, capacity);

    public void WriteLayer(KvSequence sequence, int layer, int firstSlot, IKvLayerSource source)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        sequence.WriteLayer(layer, firstSlot, source);
    }

    public void TurnKeys(KvSequence sequence, int layer, int firstSlot, int rows, float[] cos, float[] sin, bool onThisThread) =>
        sequence.TurnKeys(Rope, layer, firstSlot, rows, cos, sin, onThisThread);

    public KvCache ReadSlots(KvSequence sequence, int firstSlot, int count)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        return sequence.Slice(firstSlot, count);
    }

    /// <summary>The rows for the given slots of <paramref name="sequence"/>, at the positions those slots hold.</summary>
    public RowBatch Rows(KvSequence sequence, ReadOnlySpan<int> slots)
    {
        var positions = new int[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            if ((uint)slots[i] >= (uint)sequence.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(slots), $"slot {slots[i]} is outside the sequence's {sequence.Count} slots");
            }
            positions[i] = sequence.Positions[slots[i]];
        }
        return new RowBatch(slots.ToArray(), positions, Rope);
    }

    /// <summary>Token embeddings into <paramref name="hidden"/> <c>[ids.Length, hidden]</c>.</summary>
    public void Embed(ReadOnlySpan<int> ids, Span<float> hidden)
    {
        var width = Config.HiddenSize;
        var table = Weights.Embedding;
        for (var i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)Config.VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {ids[i]} is outside the vocabulary of {Config.VocabSize}");
            }
            table.ReadRow(ids[i], hidden.Slice(i * width, width));
        }
    }

    /// <summary>
    /// Runs decoder layer <paramref name="layer"/> on the rows' hidden states <c>[rows.Count, hidden]</c> in place.
    /// The rows' keys and values are written into their slots before attention, so they are in
    /// <paramref name="sequence"/> when this returns; the other slots must already hold this layer's K/V.
    /// </summary>
    public void ForwardLayer(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence) =>
        ForwardLayerRented(layer, hidden, rows, sequence, LayerOutputs.EveryRow);

    /// <summary>
    /// As <see cref="ForwardLayer(int, Span{float}, RowBatch, KvSequence)"/> for a prompt's last layer: every row's
    /// K/V are written, but the attention output and the MLP run for the last row alone, the one whose
    /// logits are read (the others' hidden states are left as this layer's input). Over 4 096 rows that
    /// is about 4 % of a prefill's arithmetic that nothing reads.
    /// </summary>
    public void ForwardLastLayer(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence) =>
        ForwardLayerRented(layer, hidden, rows, sequence, LayerOutputs.LastRow);

    /// <summary>
    /// Only the rows' K/V of layer <paramref name="layer"/>, written into their slots; <paramref name="hidden"/>
    /// is read, not changed. CacheBlend compares these fresh K/V with the cached ones before choosing rows.
    /// </summary>
    public void ComputeLayerKv(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence) =>
        ForwardLayerRented(layer, hidden, rows, sequence, LayerOutputs.KvOnly);

    /// <summary>
    /// As <see cref="ComputeLayerKv(int, Span{float}, RowBatch, KvSequence)"/>, and how far each row's fresh
    /// keys (or values, <paramref name="ofValues"/>) are from what its slot held: <c>Σ (fresh − held)²</c>
    /// over KV heads and head dimensions, in double, into <paramref name="deviation"/> <c>[rows.Count]</c>.
    /// CacheBlend chooses the rows to recompute by it.
    /// </summary>
    public void ComputeLayerKv(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence, Span<double> deviation, bool ofValues)
    {
        if (deviation.Length < rows.Count)
        {
            throw new ArgumentException($"deviation holds {deviation.Length} values; there are {rows.Count} rows", nameof(deviation));
        }
        ForwardLayerRented(layer, hidden, rows, sequence, LayerOutputs.KvOnly, deviation, ofValues);
    }

    private void ForwardLayerRented(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence, LayerOutputs outputs,
        Span<double> deviation = default, bool deviationOfValues = false)
    {
        var workspace = Rent();
        try
        {
            ForwardLayer(layer, hidden, rows, sequence, workspace, outputs, deviation, deviationOfValues);
        }
        finally
        {
            workspaces.Add(workspace);
        }
    }

    /// <summary>
    /// The rows' queries of layer <paramref name="layer"/> <c>[rows.Count, heads, headDim]</c>, rotated at their
    /// positions, from their input hidden states: what query-aware selection scores context rows with.
    /// </summary>
    public void Queries(int layer, ReadOnlySpan<float> hidden, RowBatch rows, Span<float> queries)
    {
        var c = Config;
        var n = rows.Count;
        var qWidth = c.Heads * c.HeadDim;
        if (hidden.Length < n * c.HiddenSize || queries.Length < n * qWidth)
        {
            throw new ArgumentException($"{n} rows need {n * c.HiddenSize} hidden and {n * qWidth} query floats");
        }
        var w = Weights.Layers[layer];
        var normed = new float[n * c.HiddenSize];
        fixed (float* x = hidden)
        fixed (float* h = normed)
        fixed (float* q = queries)
        {
            Kernels.RmsNorm(x, h, n, c.HiddenSize, w.InputNorm, c.RmsNormEpsilon);
            Kernels.Linear(Gemm, h, n, w.Query, w.QueryBias, q);
            if (c.QkNorm)
            {
                Kernels.RmsNorm(q, q, n * c.Heads, c.HeadDim, w.QueryNorm, c.RmsNormEpsilon);
            }
            Rope.Apply(q, n, c.Heads, rows.Cos, rows.Sin);
        }
    }

    /// <summary>
    /// Adds, for each of the first <paramref name="keySlots"/> slots, the attention every row and head
    /// pays it at layer <paramref name="layer"/> (softmax over those slots alone), from the rows' input
    /// hidden states: what question-aware selection scores context rows by. The slots' K/V must hold
    /// this layer's.
    /// </summary>
    public void AddAttentionWeights(int layer, ReadOnlySpan<float> hidden, RowBatch rows, KvSequence sequence, int keySlots, Span<double> weights)
    {
        var c = Config;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keySlots, sequence.Count);
        if (weights.Length < keySlots)
        {
            throw new ArgumentException($"weights holds {weights.Length} values; there are {keySlots} slots", nameof(weights));
        }
        var queries = new float[rows.Count * c.Heads * c.HeadDim];
        Queries(layer, hidden, rows, queries);
        var logits = new float[rows.Count * keySlots];
        var scale = 1f / MathF.Sqrt(c.HeadDim);
        fixed (float* q = queries)
        fixed (float* k = sequence.Keys[layer])
        fixed (float* s = logits)
        {
            for (var head = 0; head < c.Heads; head++)
            {
                var kvHead = head / c.GroupSize;
                // [rows, keySlots] = q_head [rows, headDim] · K_kvHead [keySlots, headDim]ᵀ, both read in place.
                Gemm.Sgemm(false, true, rows.Count, keySlots, c.HeadDim, scale,
                    q + head * c.HeadDim, c.Heads * c.HeadDim, k + kvHead * c.HeadDim, c.KvHeads * c.HeadDim, 0f, s, keySlots);
                for (var r = 0; r < rows.Count; r++)
                {
                    var row = logits.AsSpan(r * keySlots, keySlots);
                    System.Numerics.Tensors.TensorPrimitives.SoftMax(row, row);
                    for (var j = 0; j < keySlots; j++)
                    {
                        weights[j] += row[j];
                    }
                }
            }
        }
    }

    /// <param name="outputs">Whose hidden states go through the layer: every row's, the last row's alone, or none (stop once the K/V are in the sequence).</param>
    /// <param name="deviation">When not empty, each row's <c>Σ (fresh − held)²</c> of its keys (values: <paramref name="deviationOfValues"/>) before they are written.</param>
    private void ForwardLayer(int layer, Span<float> hidden, RowBatch rows, KvSequence sequence, Workspace workspace, LayerOutputs outputs,
        Span<double> deviation = default, bool deviationOfValues = false)
    {
        var c = Config;
        var n = rows.Count;
        if (hidden.Length < n * c.HiddenSize)
        {
            throw new ArgumentException($"hidden holds {hidden.Length} floats; {n} rows need {n * c.HiddenSize}");
        }
        var w = Weights.Layers[layer];
        var qWidth = c.Heads * c.HeadDim;
        var kvWidth = c.KvHeads * c.HeadDim;
        var normed = workspace.Get("normed", (long)n * c.HiddenSize);
        var q = workspace.Get("q", (long)n * qWidth);
        var k = workspace.Get("k", (long)n * kvWidth);
        var v = workspace.Get("v", (long)n * kvWidth);
        var attended = workspace.Get("attended", (long)n * qWidth);
        var gate = workspace.Get("gate", (long)n * c.IntermediateSize);
        var up = workspace.Get("up", (long)n * c.IntermediateSize);
        fixed (float* x = hidden)
        fixed (float* keys = sequence.Keys[layer])
        fixed (float* values = sequence.Values[layer])
        {
            // Attention block: x += o_proj(attention(rope(q), rope(k), v)) of rmsnorm(x).
            // From the attention output on, the rows carried through the layer, [from, n): all of them, or the last alone.
            var from = outputs == LayerOutputs.LastRow ? n - 1 : 0;
            var m = n - from;
            // Decoding: the queries stream with the keys and values in one pass over the three matrices (see Kernels.Linear).
            var queriesWithKv = outputs != LayerOutputs.KvOnly && from == 0 && n <= Kernels.FewRows;
            Kernels.RmsNorm(x, normed, n, c.HiddenSize, w.InputNorm, c.RmsNormEpsilon);
            if (queriesWithKv)
            {
                Kernels.Linear(Gemm, normed, n, [new(w.Key, w.KeyBias, k), new(w.Value, w.ValueBias, v), new(w.Query, w.QueryBias, q)]);
            }
            else
            {
                Kernels.Linear(Gemm, normed, n, [new(w.Key, w.KeyBias, k), new(w.Value, w.ValueBias, v)]);
            }
            if (c.QkNorm)
            {
                Kernels.RmsNorm(k, k, n * c.KvHeads, c.HeadDim, w.KeyNorm, c.RmsNormEpsilon);
            }
            Rope.Apply(k, n, c.KvHeads, rows.Cos, rows.Sin);
            if (!deviation.IsEmpty)
            {
                var fresh = deviationOfValues ? v : k;
                var held = deviationOfValues ? values : keys;
                for (var r = 0; r < n; r++)
                {
                    deviation[r] = Kernels.SquaredDistance(fresh + (long)r * kvWidth, held + (long)rows.Slots[r] * kvWidth, kvWidth);
                }
            }
            for (var r = 0; r < n; r++)
            {
                var slot = (long)rows.Slots[r] * kvWidth;
                Buffer.MemoryCopy(k + (long)r * kvWidth, keys + slot, kvWidth * sizeof(float), kvWidth * sizeof(float));
                Buffer.MemoryCopy(v + (long)r * kvWidth, values + slot, kvWidth * sizeof(float), kvWidth * sizeof(float));
            }
            if (outputs == LayerOutputs.KvOnly)
            {
                return; // the queries serve the attention alone (with grouped-query attention they cost several times the K/V)
            }
            var carriedX = x + (long)from * c.HiddenSize;
            var carriedNormed = normed + (long)from * c.HiddenSize;
            var carriedQ = q + (long)from * qWidth;
            var carriedAttended = attended + (long)from * qWidth;
            if (!queriesWithKv)
            {
                Kernels.Linear(Gemm, carriedNormed, m, w.Query, w.QueryBias, carriedQ);
            }
            if (c.QkNorm)
            {
                Kernels.RmsNorm(carriedQ, carriedQ, m * c.Heads, c.HeadDim, w.QueryNorm, c.RmsNormEpsilon);
            }
            Rope.Apply(q, from, m, c.Heads, rows.Cos, rows.Sin);
            Attention.Compute(Gemm, carriedQ, rows.Positions.AsSpan(from), c.Heads, c.HeadDim, keys, values,
                sequence.Positions.AsSpan(0, sequence.Count), c.KvHeads, carriedAttended);
            Kernels.Linear(Gemm, carriedAttended, m, w.Output, null, carriedNormed);
            Kernels.AddInPlace(carriedX, carriedNormed, (long)m * c.HiddenSize);

            // MLP block: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x).
            Kernels.RmsNorm(carriedX, carriedNormed, m, c.HiddenSize, w.PostAttentionNorm, c.RmsNormEpsilon);
            Kernels.Linear(Gemm, carriedNormed, m, [new(w.Gate, null, gate), new(w.Up, null, up)]);
            Kernels.SiluMultiply(gate, up, (long)m * c.IntermediateSize);
            Kernels.Linear(Gemm, gate, m, w.Down, null, carriedNormed);
            Kernels.AddInPlace(carriedX, carriedNormed, (long)m * c.HiddenSize);
        }
    }

    /// <summary>Final norm and language-model head for one row of <paramref name="hidden"/>: logits over the vocabulary.</summary>
    public void Logits(ReadOnlySpan<float> hidden, int row, Span<float> logits)
    {
        var c = Config;
        if (logits.Length < c.VocabSize)
        {
            throw new ArgumentException($"logits holds {logits.Length} floats; the vocabulary has {c.VocabSize}");
        }
        var normed = new float[c.HiddenSize];
        fixed (float* x = hidden.Slice(row * c.HiddenSize, c.HiddenSize))
        fixed (float* h = normed)
        fixed (float* output = logits)
        {
            Kernels.RmsNorm(x, h, 1, c.HiddenSize, Weights.FinalNorm, c.RmsNormEpsilon);
            Kernels.Linear(Gemm, h, 1, Weights.LanguageModelHead, null, output);
        }
    }

    /// <summary>
    /// Computes tokens at the given positions after what <paramref name="sequence"/> already holds and returns
    /// the last token's logits. <paramref name="afterLayer"/> sees each layer's K/V as soon as it is written.
    /// </summary>
    public float[] Prefill(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence,
        Action<int>? afterLayer = null) => Pass(ids, positions, sequence, afterLayer, kvOnly: false)!;

    /// <summary>
    /// Only the K/V of the tokens at the given positions, written into <paramref name="sequence"/>:
    /// what ingestion stores. Skips what no cache holds: the last layer's attention output and MLP,
    /// and the language-model head (together about 5 % of a 512-token prefill of Qwen2.5-0.5B).
    /// </summary>
    public void ComputeKv(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence) =>
        Pass(ids, positions, sequence, afterLayer: null, kvOnly: true);

    /// <summary>A forward pass over every layer; the last token's logits unless <paramref name="kvOnly"/>.</summary>
    private float[]? Pass(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence, Action<int>? afterLayer, bool kvOnly)
    {
        if (ids.Length == 0 || ids.Length != positions.Length)
        {
            throw new ArgumentException($"need one position per token and at least one token (got {ids.Length} ids, {positions.Length} positions)");
        }
        var workspace = Rent();
        try
        {
            // The hidden states stay in a kept buffer: only the last row leaves, and a fresh array of
            // n × hidden floats would pay a page fault per 4 KiB on every call.
            var hidden = new Span<float>(workspace.Get("hidden", (long)ids.Length * Config.HiddenSize), ids.Length * Config.HiddenSize);
            // Only the last row's logits leave a prefill; what ingestion stores is the K/V alone.
            Forward(ids, positions, sequence, Config.Layers, afterLayer, hidden, workspace, kvOnly ? LayerOutputs.KvOnly : LayerOutputs.LastRow);
            if (kvOnly)
            {
                return null;
            }
            var logits = new float[Config.VocabSize];
            Logits(hidden, ids.Length - 1, logits);
            return logits;
        }
        finally
        {
            workspaces.Add(workspace);
        }
    }

    /// <summary>
    /// Hidden states <c>[ids.Length, hidden]</c> of the tokens at positions 0..n-1, what a pooling
    /// embedder reads: by default after every layer and the final norm (the input of the
    /// language-model head); with <paramref name="layers"/> the residual stream after that many
    /// decoder layers (0: the token embeddings). Uses a scratch cache.
    /// </summary>
    public float[] HiddenStates(ReadOnlySpan<int> ids, int? layers = null)
    {
        if (ids.Length == 0)
        {
            throw new ArgumentException("need at least one token", nameof(ids));
        }
        var c = Config;
        if (layers is < 0 || layers > c.Layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"the model has {c.Layers} layers");
        }
        var positions = Enumerable.Range(0, ids.Length).ToArray();
        var hidden = GC.AllocateUninitializedArray<float>(ids.Length * c.HiddenSize);
        var workspace = Rent();
        try
        {
            Forward(ids, positions, NewSequence(ids.Length), layers ?? c.Layers, afterLayer: null, hidden, workspace);
        }
        finally
        {
            workspaces.Add(workspace);
        }
        if (layers is not null)
        {
            return hidden;
        }
        fixed (float* x = hidden)
        {
            Kernels.RmsNorm(x, x, ids.Length, c.HiddenSize, Weights.FinalNorm, c.RmsNormEpsilon);
        }
        return hidden;
    }

    /// <summary>Appends the tokens to <paramref name="sequence"/> and runs the first <paramref name="layers"/> layers, leaving the hidden states <c>[ids.Length, hidden]</c> in <paramref name="hidden"/>.</summary>
    private void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, KvSequence sequence, int layers, Action<int>? afterLayer,
        Span<float> hidden, Workspace workspace, LayerOutputs lastLayer = LayerOutputs.EveryRow)
    {
        var first = sequence.Reserve(positions);
        var rows = new RowBatch(Enumerable.Range(first, ids.Length).ToArray(), positions.ToArray(), Rope);
        Embed(ids, hidden);
        for (var layer = 0; layer < layers; layer++)
        {
            var outputs = layer < layers - 1 ? LayerOutputs.EveryRow : lastLayer;
            ForwardLayer(layer, hidden, rows, sequence, workspace, outputs);
            afterLayer?.Invoke(layer);
        }
    }

    /// <summary>Prefill at positions continuing from the last slot of <paramref name="sequence"/> (0 for an empty one).</summary>
    public float[] Prefill(ReadOnlySpan<int> ids, KvSequence sequence)
    {
        var start = sequence.Count == 0 ? 0 : sequence.Positions[sequence.Count - 1] + 1;
        var positions = Enumerable.Range(start, ids.Length).ToArray();
        return Prefill(ids, positions, sequence);
    }

    private Workspace Rent() => workspaces.TryTake(out var workspace) ? workspace : new Workspace();

    public void Dispose()
    {
        while (workspaces.TryTake(out var workspace))
        {
            workspace.Dispose();
        }
        Weights.Dispose();
    }
}

/// <summary>Whose hidden states a layer carries through its attention output and MLP.</summary>
internal enum LayerOutputs
{
    /// <summary>Every row's.</summary>
    EveryRow,

    /// <summary>The last row's alone (a prompt's last layer: only its logits are read); every row's K/V are written.</summary>
    LastRow,

    /// <summary>None: the rows' K/V are written and the layer stops.</summary>
    KvOnly,
}
