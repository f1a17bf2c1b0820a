using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>
/// One prompt being fused: the assembled sequence (slot = global index) and what a strategy needs
/// to name rows. A strategy runs <see cref="ActiveRows"/> over it and hands back the last layer's rows.
/// The stored K/V may still be landing in the sequence (<see cref="StoredKvFill"/>): rows wait for a
/// layer before they use it, and code that reads or writes a layer's slots itself calls
/// <see cref="WaitForLayer"/> first.
/// </summary>
internal sealed class FusionRun(IComputeBackend backend, FusionPrompt prompt, KvSequence sequence,
    StoredKvFill fill, HiddenBuffers hiddenBuffers, ChunkVariantCache? variants = null)
{
    private readonly List<float[]> taken = [];

    public ChunkVariantCache? Variants => variants;

    public IComputeBackend Backend => backend;
    public FusionPrompt Prompt => prompt;
    public KvSequence Sequence => sequence;
    public int Layers => backend.Config.Layers;

    /// <summary>The rows and layers computed so far, for <see cref="FusionResult.Work"/>.</summary>
    public FusionWork Work { get; } = new();

    /// <summary>Returns once layer <paramref name="layer"/>'s stored K/V are in the sequence.</summary>
    public void WaitForLayer(int layer) => fill.WaitFor(layer);

    /// <summary>Returns once every layer's stored K/V are in the sequence.</summary>
    public void WaitForAllLayers() => fill.WaitForAll();

    /// <summary>The question's slots, <c>[ContextLength, Length)</c>.</summary>
    public int[] QuestionSlots => Range(prompt.ContextLength, prompt.Question.Length);

    /// <summary>The slots of chunks C₁ … Cₘ, <c>[|P|, ContextLength)</c>.</summary>
    public int[] ChunkSlots => Range(prompt.Prefix.Length, prompt.TotalChunkTokens);

    /// <summary>Slots of chunk <paramref name="chunk"/>.</summary>
    public int[] SlotsOfChunk(int chunk) => Range(prompt.ChunkStarts[chunk], prompt.Chunks[chunk].Length);

    /// <summary>The first <paramref name="tokens"/> slots of each chunk after the first (the first chunk's cache is exact).</summary>
    public IEnumerable<int> ChunkOpenings(int tokens) =>
        Enumerable.Range(1, Math.Max(0, prompt.Chunks.Count - 1)).SelectMany(chunk => SlotsOfChunk(chunk).Take(tokens));

    /// <summary>The schedule of the methods whose rows are fixed by the layout: these context rows and the question, in every layer, from their embeddings.</summary>
    public ActiveRows RunFixed(IEnumerable<int> contextSlots)
    {
        var rows = Start(WithQuestion(contextSlots));
        rows.Run(0, Layers);
        return rows;
    }

    /// <summary>Rows at the given slots (any order; made ascending), from their token embeddings.</summary>
    public ActiveRows Start(IEnumerable<int> slots)
    {
        var ordered = slots.Distinct().Order().ToArray();
        var buffer = hiddenBuffers.Take(ordered.Length * backend.Config.HiddenSize);
        taken.Add(buffer);
        return ActiveRows.Embed(backend, sequence, ordered, prompt.TokenAt, fill.WaitFor, Work, buffer);
    }

    /// <summary>Once no rows are used any more: their hidden-state buffers go back to be kept for the next fusion.</summary>
    public void GiveBackBuffers()
    {
        foreach (var buffer in taken)
        {
            hiddenBuffers.Give(buffer);
        }
        taken.Clear();
    }

    /// <summary>Chosen context slots with the question's, ascending: the rows computed from a selection on.</summary>
    public int[] WithQuestion(IEnumerable<int> contextSlots) => contextSlots.Concat(QuestionSlots).Distinct().Order().ToArray();

    private static int[] Range(int start, int count) => Enumerable.Range(start, count).ToArray();
}
