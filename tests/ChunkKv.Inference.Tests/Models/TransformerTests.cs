using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tests.Models;

/// <summary>The properties fusion relies on: incremental decoding, subset recomputation, key re-rotation.</summary>
public sealed class TransformerTests
{
    public static TheoryData<string> Shapes => new(ModelShape.Tiny.Select(s => s.Name));

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Decoding_one_token_at_a_time_gives_the_logits_of_one_full_pass(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(90, seed: 1);
        var full = t.Prefill(ids, t.NewSequence());
        var sequence = t.NewSequence(4); // also exercises growth
        var logits = t.Prefill(ids.AsSpan(0, 70), sequence);
        for (var i = 70; i < ids.Length; i++)
        {
            logits = t.Prefill(ids.AsSpan(i, 1), sequence);
        }
        AssertClose(full, logits, 1e-4);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void Hidden_states_are_what_the_head_turns_into_the_prefill_logits(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(40, seed: 4);
        var expected = t.Prefill(ids, t.NewSequence());

        var hidden = t.HiddenStates(ids);

        // Independent head: one double-precision dot product per vocabulary row with the last row.
        var width = t.Config.HiddenSize;
        var head = t.Weights.LanguageModelHead;
        var last = hidden.AsSpan((ids.Length - 1) * width, width);
        var logits = new float[t.Config.VocabSize];
        for (var v = 0; v < logits.Length; v++)
        {
            var sum = 0.0;
            for (var i = 0; i < width; i++)
            {
                sum += (double)last[i] * head.Floats[(long)v * width + i];
            }
            logits[v] = (float)sum;
        }
        Assert.Equal(ids.Length * width, hidden.Length);
        AssertClose(expected, logits, 1e-4);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Recomputing_a_subset_of_rows_over_the_full_cache_reproduces_the_full_pass(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(120, seed: 2);
        var reference = t.NewSequence();
        var expected = t.Prefill(ids, reference);

        // Start from the full cache and recompute scattered rows (unordered, including the last) layer by layer.
        var sequence = t.NewSequence();
        sequence.Append(reference.Slice(0, reference.Count));
        int[] slots = [119, 3, 64, 65, 100, 0, 77];
        var rows = t.Rows(sequence, slots);
        var hidden = new float[slots.Length * t.Config.HiddenSize];
        t.Embed(slots.Select(s => ids[s]).ToArray(), hidden);
        for (var layer = 0; layer < t.Config.Layers; layer++)
        {
            t.ForwardLayer(layer, hidden, rows, sequence);
            // The recomputed K/V of every row equal the ones of the full pass.
            foreach (var slot in slots)
            {
                var width = sequence.RowWidth;
                AssertClose(reference.Keys[layer].AsSpan(slot * width, width).ToArray(),
                    sequence.Keys[layer].AsSpan(slot * width, width).ToArray(), 1e-4);
            }
        }
        var logits = new float[t.Config.VocabSize];
        t.Logits(hidden, 0, logits);
        AssertClose(expected, logits, 1e-4);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void The_last_layer_carries_the_last_row_alone_and_writes_every_rows_kv(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(60, seed: 5);
        var last = t.Config.Layers - 1;
        var width = t.Config.HiddenSize;
        // Both sequences hold the same first layers; then one runs the whole last layer, the other the last row alone.
        var (every, lastRow) = (t.NewSequence(), t.NewSequence());
        every.Reserve(Enumerable.Range(0, ids.Length).ToArray());
        lastRow.Reserve(Enumerable.Range(0, ids.Length).ToArray());
        var slots = Enumerable.Range(0, ids.Length).ToArray();
        var hidden = new float[ids.Length * width];
        t.Embed(ids, hidden);
        for (var layer = 0; layer < last; layer++)
        {
            t.ForwardLayer(layer, hidden, t.Rows(every, slots), every);
        }
        for (var layer = 0; layer < last; layer++)
        {
            every.Keys[layer].AsSpan(0, ids.Length * every.RowWidth).CopyTo(lastRow.Keys[layer]);
            every.Values[layer].AsSpan(0, ids.Length * every.RowWidth).CopyTo(lastRow.Values[layer]);
        }
        var input = hidden.ToArray();
        var alone = hidden.ToArray();

        t.ForwardLayer(last, hidden, t.Rows(every, slots), every);
        t.ForwardLastLayer(last, alone, t.Rows(lastRow, slots), lastRow);

        var used = ids.Length * every.RowWidth; // the arrays may hold more slots than are reserved
        Assert.Equal(every.Keys[last].AsSpan(0, used).ToArray(), lastRow.Keys[last].AsSpan(0, used).ToArray()); // every row's K/V, the same computation
        Assert.Equal(every.Values[last].AsSpan(0, used).ToArray(), lastRow.Values[last].AsSpan(0, used).ToArray());
        AssertClose(hidden.AsSpan((ids.Length - 1) * width).ToArray(), alone.AsSpan((ids.Length - 1) * width).ToArray(), 1e-5);
        Assert.Equal(input.AsSpan(0, (ids.Length - 1) * width).ToArray(), alone.AsSpan(0, (ids.Length - 1) * width).ToArray()); // the others untouched
        // And a prefill, which runs its last layer this way, gives the last row's logits of the whole layer.
        var logits = new float[t.Config.VocabSize];
        t.Logits(hidden, ids.Length - 1, logits);
        AssertClose(logits, t.Prefill(ids, t.NewSequence()), 1e-4);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Rotating_keys_by_delta_equals_computing_them_at_the_shifted_positions(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(40, seed: 3);
        const int delta = 1234;
        var at = Enumerable.Range(5, ids.Length).ToArray();
        var shifted = at.Select(p => p + delta).ToArray();
        var original = t.NewSequence();
        t.Prefill(ids, at, original);
        var moved = t.NewSequence();
        t.Prefill(ids, shifted, moved);

        var repositioned = original.Slice(0, ids.Length).Reposition(t.Rope, shifted);
        var viaPreRope = original.Slice(0, ids.Length).WithoutRope(t.Rope).Reposition(t.Rope, shifted);
        for (var layer = 0; layer < t.Config.Layers; layer++)
        {
            var target = moved.Keys[layer].AsSpan(0, ids.Length * moved.RowWidth).ToArray();
            AssertClose(target, repositioned.Keys[layer], 2e-4);
            AssertClose(target, viaPreRope.Keys[layer], 2e-4);
            AssertClose(moved.Values[layer].AsSpan(0, ids.Length * moved.RowWidth).ToArray(), repositioned.Values[layer], 2e-4);
        }
        Assert.Equal(shifted, repositioned.Positions);
        Assert.Equal(KeyForm.PostRope, repositioned.KeyForm);
    }

    [Fact]
    public void Each_layer_kv_is_in_the_sequence_when_its_callback_runs()
    {
        using var model = TinyModels.Load("tiny-qwen3");
        var t = model.Transformer;
        var ids = Ids(10, seed: 4);
        var sequence = t.NewSequence();
        var seen = new List<float[]>();
        t.Prefill(ids, Enumerable.Range(0, ids.Length).ToArray(), sequence,
            layer => seen.Add(sequence.Keys[layer].AsSpan(0, ids.Length * sequence.RowWidth).ToArray()));
        Assert.Equal(t.Config.Layers, seen.Count);
        for (var layer = 0; layer < seen.Count; layer++)
        {
            Assert.Contains(seen[layer], x => x != 0f);
            Assert.Equal(sequence.Keys[layer].AsSpan(0, ids.Length * sequence.RowWidth).ToArray(), seen[layer]);
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ComputeKv_stores_the_same_kv_as_a_full_prefill(string shape)
    {
        using var model = TinyModels.Load(shape);
        var t = model.Transformer;
        var ids = Ids(70, seed: 6);
        var positions = Enumerable.Range(3, ids.Length).ToArray();
        var full = t.NewSequence(ids.Length);
        t.Prefill(ids, positions, full);
        var kvOnly = t.NewSequence(ids.Length);
        t.ComputeKv(ids, positions, kvOnly);

        Assert.Equal(positions, kvOnly.Positions.AsSpan(0, kvOnly.Count).ToArray());
        for (var layer = 0; layer < t.Config.Layers; layer++)
        {
            // The same kernels on the same inputs: equal to the bit, the last layer included.
            Assert.Equal(full.Keys[layer], kvOnly.Keys[layer]);
            Assert.Equal(full.Values[layer], kvOnly.Values[layer]);
        }
    }

    internal static int[] Ids(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(3, 384)).ToArray();
    }

    internal static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var error = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.True(error <= tolerance, $"max abs error {error:E2} > {tolerance:E0}");
    }
}
