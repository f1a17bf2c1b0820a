using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>
/// The rows being computed, layer by layer: their slots in the fused sequence (ascending, so global
/// order) and their hidden states <c>[Count, hidden]</c>. Every strategy is a schedule over this one
/// piece: start rows from their embeddings, run layers, write a layer's fresh K/V only, keep a
/// subset. A computed row's K/V overwrite its slot before attention, and attention is the engine's
/// exact causal rule on the slots' positions. Before a layer touches the sequence, the rows wait for
/// that layer's stored K/V to be in place.
/// </summary>
internal sealed class ActiveRows
{
    private readonly IComputeBackend backend;
    private readonly KvSequence sequence;
    private readonly Action<int> layerReady;
    private readonly FusionWork work;
    private readonly float[] hidden; // [Count, hidden] at its start; it may be longer (a kept buffer)
    private RowBatch rows;
    private long attendedKeys; // per layer, by the causal rule on the slots' positions

    private ActiveRows(IComputeBackend backend, KvSequence sequence, int[] slots, float[] hidden, Action<int> layerReady, FusionWork work)
    {
        this.backend = backend;
        this.sequence = sequence;
        this.layerReady = layerReady;
        this.work = work;
        this.hidden = hidden;
        Slots = slots;
        rows = backend.Rows(sequence, slots);
        attendedKeys = AttendedKeys(sequence, slots);
    }

    /// <summary>Slots being computed, ascending.</summary>
    public int[] Slots { get; private set; }

    /// <summary>Their hidden states, <c>[Slots.Length, hidden]</c>: the input of the next layer to run.</summary>
    public Span<float> Hidden => hidden.AsSpan(0, Count * backend.Config.HiddenSize);

    public RowBatch Rows => rows;

    public int Count => Slots.Length;

    /// <summary>The rows at <paramref name="slots"/> (ascending), from the embeddings of their tokens.</summary>
    /// <param name="layerReady">Returns once a layer's stored K/V are in the sequence.</param>
    /// <param name="work">Where the layers these rows run are counted.</param>
    /// <param name="buffer">Holds the rows' hidden states: at least <c>[slots.Length, hidden]</c>.</param>
    public static ActiveRows Embed(IComputeBackend backend, KvSequence sequence, int[] slots, Func<int, int> tokenAtSlot,
        Action<int> layerReady, FusionWork work, float[] buffer)
    {
        for (var i = 1; i < slots.Length; i++)
        {
            if (slots[i] <= slots[i - 1])
            {
                throw new ArgumentException("rows must be in ascending slot order", nameof(slots));
            }
        }
        var ids = slots.Select(tokenAtSlot).ToArray();
        backend.Embed(ids, buffer.AsSpan(0, slots.Length * backend.Config.HiddenSize));
        return new ActiveRows(backend, sequence, slots, buffer, layerReady, work);
    }

    /// <summary>
    /// Runs layers <c>[from, to)</c> on every row. The model's last layer carries the last row alone
    /// through its attention output and MLP: every row's K/V are written, the others' hidden states stay
    /// that layer's input, and <see cref="LastLogits"/> is what is read after it.
    /// </summary>
    public void Run(int from, int to, Action<int, ActiveRows>? beforeLayer = null)
    {
        for (var layer = from; layer < to; layer++)
        {
            layerReady(layer);
            beforeLayer?.Invoke(layer, this);
            if (layer == backend.Config.Layers - 1)
            {
                // Past the last layer only the last row is read (the first token's logits); the others need their K/V alone.
                backend.ForwardLastLayer(layer, Hidden, rows, sequence);
                work.AddKvOnly(Count - 1);
                work.AddLayer(1, AttendedKeys(sequence, [Slots[^1]]));
                continue;
            }
            backend.ForwardLayer(layer, Hidden, rows, sequence);
            work.AddLayer(Count, attendedKeys);
        }
    }

    /// <summary>Writes layer <paramref name="layer"/>'s fresh K/V of every row into its slot; the hidden states stay layer <paramref name="layer"/>'s input.</summary>
    public void ComputeKv(int layer)
    {
        layerReady(layer); // the fresh K/V must land after the stored ones, not under them
        backend.ComputeLayerKv(layer, Hidden, rows, sequence);
        work.AddKvOnly(Count);
    }

    /// <summary>
    /// As <see cref="ComputeKv"/>, returning each row's deviation from the K/V its slot held (the stored,
    /// re-positioned ones): <c>Σ (fresh − stored)²</c> of its keys, or values with <paramref name="ofValues"/>.
    /// </summary>
    public double[] ComputeKvDeviation(int layer, bool ofValues)
    {
        layerReady(layer); // the stored K/V must have landed before they are compared and overwritten
        var deviation = new double[Count];
        backend.ComputeLayerKv(layer, Hidden, rows, sequence, deviation, ofValues);
        work.AddKvOnly(Count);
        return deviation;
    }

    /// <summary>Adds to <paramref name="weights"/> the attention these rows pay each of the first <paramref name="keySlots"/> slots at this layer (every head).</summary>
    public void AddAttentionTo(int layer, int keySlots, double[] weights)
    {
        layerReady(layer);
        backend.AddAttentionWeights(layer, Hidden, rows, sequence, keySlots, weights);
    }

    /// <summary>Keeps only the rows whose slot is in <paramref name="keep"/> (ascending), hidden states and all.</summary>
    public void Keep(IReadOnlyList<int> keep)
    {
        var width = backend.Config.HiddenSize;
        // In place: the i-th kept row comes from a row at or after i, so moving rows forward in
        // order never overwrites one still to be moved.
        var at = 0;
        for (var i = 0; i < keep.Count; i++)
        {
            while (at < Slots.Length && Slots[at] < keep[i])
            {
                at++;
            }
            if (at == Slots.Length || Slots[at] != keep[i])
            {
                throw new ArgumentException($"slot {keep[i]} is not an active row (or the slots are not ascending)", nameof(keep));
            }
            hidden.AsSpan(at * width, width).CopyTo(hidden.AsSpan(i * width, width));
        }
        Slots = [.. keep];
        rows = backend.Rows(sequence, Slots);
        attendedKeys = AttendedKeys(sequence, Slots);
    }

    /// <summary>Σ over the rows of the slots each sees: every slot at a position at or before its own.</summary>
    private static long AttendedKeys(KvSequence sequence, int[] slots)
    {
        var positions = sequence.Positions.AsSpan(0, sequence.Count).ToArray();
        Array.Sort(positions);
        long total = 0;
        foreach (var slot in slots)
        {
            // How many positions are at or before this row's: the first index past them.
            int at = 0, end = positions.Length, position = sequence.Positions[slot];
            while (at < end)
            {
                var middle = (at + end) >>> 1;
                (at, end) = positions[middle] <= position ? (middle + 1, end) : (at, middle);
            }
            total += at;
        }
        return total;
    }

    /// <summary>The logits of the last row (the question's last token): the first answer token's distribution.</summary>
    public float[] LastLogits()
    {
        var logits = new float[backend.Config.VocabSize];
        backend.Logits(Hidden, Count - 1, logits);
        return logits;
    }
}
