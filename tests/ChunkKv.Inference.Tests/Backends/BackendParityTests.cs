using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Backends;

/// <summary>
/// Every operation of <see cref="IComputeBackend"/> run on a candidate backend and on the CPU
/// reference (<see cref="Transformer"/> as it loads by default), with the same inputs, compared
/// op by op, after ggml's test-backend-ops. A second backend (weights kept in 16 or 8 bits, a GPU)
/// adds a subclass that makes itself the candidate, with the tolerance its arithmetic earns.
/// </summary>
public abstract class BackendParityTests : IDisposable
{
    private readonly LanguageModel reference;
    private readonly IComputeBackend candidate;
    private readonly int[] ids;

    protected BackendParityTests(string shape)
    {
        var directory = TinyModels.Directory(shape);
        reference = LanguageModel.Load(directory);
        candidate = Candidate(directory);
        var random = new Random(3);
        ids = Enumerable.Range(0, 14).Select(_ => random.Next(reference.Config.VocabSize)).ToArray();
    }

    /// <summary>The backend under test, on the model in <paramref name="directory"/>.</summary>
    protected abstract IComputeBackend Candidate(string directory);

    /// <summary>The largest difference allowed, relative to the largest magnitude compared.</summary>
    protected abstract double Tolerance { get; }

#pragma warning disable CA1859 // called through the interface on purpose: what is compared is the interface's operations
    private IComputeBackend Reference => reference.Transformer;
#pragma warning restore CA1859

    private void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0, scale = 1e-6;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        Assert.True(worst <= Tolerance * scale, $"{what}: max |Δ| {worst:E2} against {Tolerance * scale:E2} ({candidate.Name} vs {Reference.Name})");
    }

    private void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what) =>
        AssertClose(expected.ToArray().Select(v => (float)v).ToArray(), actual.ToArray().Select(v => (float)v).ToArray(), what);

    /// <summary>The prompt's K/V prefilled by the reference, and a copy written into the candidate's sequence slot by slot.</summary>
    private (KvSequence Expected, KvSequence Actual) Prefilled()
    {
        var expected = Reference.NewSequence(ids.Length + 4);
        Reference.Prefill(ids, Enumerable.Range(0, ids.Length).ToArray(), expected);
        var actual = candidate.NewSequence(ids.Length + 4);
        var copy = Reference.ReadSlots(expected, 0, ids.Length);
        actual.Reserve(copy.Positions);
        for (var layer = 0; layer < copy.Layers; layer++)
        {
            candidate.WriteLayer(actual, layer, 0, copy);
        }
        return (expected, actual);
    }

    private float[] Embedded(IComputeBackend backend, int[] slots)
    {
        var hidden = new float[slots.Length * backend.Config.HiddenSize];
        backend.Embed(slots.Select(s => ids[s]).ToArray(), hidden);
        return hidden;
    }

    [Fact]
    public void Embed_prefill_and_compute_kv_agree()
    {
        AssertClose(Embedded(Reference, [0, 5, 9]), Embedded(candidate, [0, 5, 9]), "embeddings");
        var positions = Enumerable.Range(0, ids.Length).ToArray();
        var (expected, actual) = (Reference.NewSequence(ids.Length), candidate.NewSequence(ids.Length));
        AssertClose(Reference.Prefill(ids, positions, expected), candidate.Prefill(ids, positions, actual), "prefill logits");
        var (kvExpected, kvActual) = (Reference.NewSequence(ids.Length), candidate.NewSequence(ids.Length));
        Reference.ComputeKv(ids, positions, kvExpected);
        candidate.ComputeKv(ids, positions, kvActual);
        var (a, b) = (Reference.ReadSlots(kvExpected, 0, ids.Length), candidate.ReadSlots(kvActual, 0, ids.Length));
        for (var layer = 0; layer < a.Layers; layer++)
        {
            AssertClose(a.Keys[layer], b.Keys[layer], $"layer {layer} keys");
            AssertClose(a.Values[layer], b.Values[layer], $"layer {layer} values");
        }
    }

    [Fact]
    public void A_layer_on_a_subset_of_rows_and_its_logits_agree()
    {
        var (expected, actual) = Prefilled();
        int[] slots = [3, 8, 13];
        var (hiddenExpected, hiddenActual) = (Embedded(Reference, slots), Embedded(candidate, slots));
        var last = Reference.Config.Layers - 1;
        for (var layer = 0; layer <= last; layer++)
        {
            // The last layer as a prompt's: the last row alone carried on, every row's K/V written.
            if (layer == last)
            {
                Reference.ForwardLastLayer(layer, hiddenExpected, Reference.Rows(expected, slots), expected);
                candidate.ForwardLastLayer(layer, hiddenActual, candidate.Rows(actual, slots), actual);
                AssertClose(expected.Keys[layer].AsSpan(0, expected.Count * expected.RowWidth), actual.Keys[layer].AsSpan(0, actual.Count * actual.RowWidth), "last layer keys");
            }
            else
            {
                Reference.ForwardLayer(layer, hiddenExpected, Reference.Rows(expected, slots), expected);
                candidate.ForwardLayer(layer, hiddenActual, candidate.Rows(actual, slots), actual);
            }
            AssertClose(hiddenExpected, hiddenActual, $"hidden states after layer {layer}");
        }
        var (logitsExpected, logitsActual) = (new float[Reference.Config.VocabSize], new float[candidate.Config.VocabSize]);
        Reference.Logits(hiddenExpected, 2, logitsExpected);
        candidate.Logits(hiddenActual, 2, logitsActual);
        AssertClose(logitsExpected, logitsActual, "logits");
    }

    [Fact]
    public void Fresh_kv_with_deviations_from_the_stored_agree_and_land_in_the_slots()
    {
        int[] slots = [1, 4, 6, 11];
        foreach (var ofValues in new[] { false, true })
        {
            var (expected, actual) = Prefilled();
            var (devExpected, devActual) = (new double[slots.Length], new double[slots.Length]);
            // From the embeddings at the last layer: fresh K/V that differ from the prefill's, so deviations are not zero.
            var layer = Reference.Config.Layers - 1;
            Reference.ComputeLayerKv(layer, Embedded(Reference, slots), Reference.Rows(expected, slots), expected, devExpected, ofValues);
            candidate.ComputeLayerKv(layer, Embedded(candidate, slots), candidate.Rows(actual, slots), actual, devActual, ofValues);
            Assert.All(devExpected, d => Assert.True(d > 0));
            AssertClose(devExpected, devActual, ofValues ? "value deviations" : "key deviations");
            var (a, b) = (Reference.ReadSlots(expected, 0, ids.Length), candidate.ReadSlots(actual, 0, ids.Length));
            AssertClose(a.Keys[layer], b.Keys[layer], "keys after the fresh rows were written");
            AssertClose(a.Values[layer], b.Values[layer], "values after the fresh rows were written");
        }
    }

    [Fact]
    public void Attention_weights_agree_and_equal_a_softmax_worked_out_here()
    {
        var (expected, actual) = Prefilled();
        int[] slots = [11, 12, 13];
        const int keySlots = 10;
        var layer = Reference.Config.Layers - 1;
        var (weightsExpected, weightsActual) = (new double[keySlots], new double[keySlots]);
        Reference.AddAttentionWeights(layer, Embedded(Reference, slots), Reference.Rows(expected, slots), expected, keySlots, weightsExpected);
        candidate.AddAttentionWeights(layer, Embedded(candidate, slots), candidate.Rows(actual, slots), actual, keySlots, weightsActual);
        AssertClose(weightsExpected, weightsActual, "attention weights");

        // Independently, in double: softmax over the first keySlots keys of each row's rotated query, per head.
        var c = reference.Config;
        var queries = new float[slots.Length * c.Heads * c.HeadDim];
        reference.Transformer.Queries(layer, Embedded(Reference, slots), Reference.Rows(expected, slots), queries);
        var keys = Reference.ReadSlots(expected, 0, keySlots).Keys[layer];
        var worked = new double[keySlots];
        for (var r = 0; r < slots.Length; r++)
        {
            for (var head = 0; head < c.Heads; head++)
            {
                var kvHead = head / c.GroupSize;
                var scores = Enumerable.Range(0, keySlots).Select(j => Enumerable.Range(0, c.HeadDim).Sum(d =>
                    (double)queries[(r * c.Heads + head) * c.HeadDim + d] * keys[(j * c.KvHeads + kvHead) * c.HeadDim + d]) / Math.Sqrt(c.HeadDim)).ToArray();
                var max = scores.Max();
                var sum = scores.Sum(s => Math.Exp(s - max));
                for (var j = 0; j < keySlots; j++)
                {
                    worked[j] += Math.Exp(scores[j] - max) / sum;
                }
            }
        }
        Assert.Equal(slots.Length * c.Heads, weightsExpected.Sum(), precision: 3);
        AssertClose(worked, weightsExpected, "attention weights against the softmax worked out here");
    }

    [Fact]
    public void Keys_turned_to_new_positions_agree()
    {
        var (expected, actual) = Prefilled();
        int[] from = [0, 1, 2, 3, 4];
        int[] to = [20, 21, 22, 23, 24];
        var (cos, sin) = Reference.Rope.TurnTable(from, to)!.Value;
        var layer = Reference.Config.Layers - 1;
        foreach (var onThisThread in new[] { false, true })
        {
            Reference.TurnKeys(expected, layer, 0, from.Length, cos, sin, onThisThread);
            candidate.TurnKeys(actual, layer, 0, from.Length, cos, sin, onThisThread);
        }
        AssertClose(Reference.ReadSlots(expected, 0, 5).Keys[layer], candidate.ReadSlots(actual, 0, 5).Keys[layer], "turned keys");
    }

    public void Dispose()
    {
        reference.Dispose();
        (candidate as IDisposable)?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// The CPU backend with the managed GEMM: the same kernels summed in another order, which is what a
/// second backend changes. float32 sums of a few hundred terms in another order: 1e-4 of the scale.
/// </summary>
public sealed class ManagedGemmLlama3ParityTests() : BackendParityTests("tiny-llama3")
{
    protected override IComputeBackend Candidate(string directory) => LanguageModel.Load(directory, ManagedGemm.Instance).Transformer;

    protected override double Tolerance => 1e-4;
}

/// <summary>As <see cref="ManagedGemmLlama3ParityTests"/> on Qwen3's shape (q/k norms, grouped-query attention).</summary>
public sealed class ManagedGemmQwen3ParityTests() : BackendParityTests("tiny-qwen3")
{
    protected override IComputeBackend Candidate(string directory) => LanguageModel.Load(directory, ManagedGemm.Instance).Transformer;

    protected override double Tolerance => 1e-4;
}
