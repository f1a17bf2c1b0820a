using System.Diagnostics;
using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>How long each part of a fusion took.</summary>
/// <param name="Assemble">Reserving the slots and starting the fill.</param>
/// <param name="Compute">The method's layers, waits for the fill included.</param>
/// <param name="Fill">Thread time spent writing (decoding) the stored K/V into the slots and turning their keys, mostly beside the computation.</param>
/// <param name="FillWait">How much of <paramref name="Compute"/> waited for a layer still being filled.</param>
public sealed record FusionTimings(TimeSpan Assemble, TimeSpan Compute, TimeSpan Fill = default, TimeSpan FillWait = default)
{
    /// <summary>Assembling plus computing: the time to the first token's logits once the caches are loaded.</summary>
    public TimeSpan Total => Assemble + Compute;
}

/// <summary>
/// A fused prompt: the first token's logits, the context rows computed in the last layer (global
/// indices, neither prefix nor question), and the sequence whose slots now hold the prompt's K/V,
/// ready for decoding.
/// </summary>
/// <param name="Work">The rows and layers it computed: its arithmetic, to set its speed against.</param>
public sealed record FusionResult(FusionMethod Method, float[] Logits, int[] Recomputed, KvSequence Sequence, FusionTimings Timings, FusionWork Work);

/// <summary>
/// Turns a prompt's stored caches into the KV cache of the whole prompt with a fusion method.
/// The fused cache is the prefix's K/V, then each chunk's with keys turned from the positions it
/// was computed at to its global positions (values unchanged); the method then recomputes rows
/// (<see cref="FusionMethod.Run"/>), and the question is always computed. Built once per runtime
/// (<see cref="Collections.ChunkKvRuntime.Fuser"/>), so every path shares its variants and buffers.
/// </summary>
/// <param name="variants">Where <c>cachecraft</c> keeps and finds its chunk variants; none: it runs without them.</param>
public sealed class Fuser(IComputeBackend backend, ChunkVariantCache? variants = null)
{
    private readonly HiddenBuffers hiddenBuffers = new();

    public IComputeBackend Backend => backend;

    public ChunkVariantCache? Variants => variants;

    /// <param name="caches">The stored caches (<see cref="PromptCacheComputation"/>); not read by <c>full</c>, only the prefix's by <c>prefix</c>.</param>
    /// <param name="sequence">A sequence to fill (its buffers are kept from an earlier request); a new one when null.</param>
    public FusionResult Fuse(FusionPrompt prompt, PromptCaches? caches, FusionMethod method, KvSequence? sequence = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(method);
        var clock = Stopwatch.StartNew();
        sequence ??= backend.NewSequence(prompt.Length + 64);
        sequence.Truncate(0);
        var fill = new StoredKvFill(backend, sequence, Assemble(prompt, caches, method, sequence));
        fill.Start();
        var assembled = clock.Elapsed;
        ActiveRows rows;
        var run = new FusionRun(backend, prompt, sequence, fill, hiddenBuffers, variants);
        try
        {
            rows = method.Run(run);
            fill.WaitForAll(); // a method that skips a layer's stored K/V still leaves a whole cache for decoding
        }
        finally
        {
            fill.Finish();
        }
        var logits = rows.LastLogits();
        run.GiveBackBuffers();
        var recomputed = rows.Slots.Where(s => s >= prompt.Prefix.Length && s < prompt.ContextLength).ToArray();
        return new FusionResult(method, logits, recomputed, sequence,
            new FusionTimings(assembled, clock.Elapsed - assembled, fill.Busy, fill.Waited), run.Work);
    }

    /// <summary>
    /// Reserves the slots, at the positions the method gives them: stored K/V where the method reads
    /// them (returned as the pieces to fill, with the turns that move their keys there), bare slots
    /// where every layer will write them anyway (full's whole context, prefix's chunks), then the
    /// question's slots.
    /// </summary>
    private List<StoredKvFill.Piece> Assemble(FusionPrompt prompt, PromptCaches? caches, FusionMethod method, KvSequence sequence)
    {
        var readsPrefix = method.ReadsPrefixCache && prompt.Prefix.Length > 0;
        var readsChunks = method.ReadsChunkCaches;
        if ((readsPrefix || readsChunks) && caches is null)
        {
            throw new ArgumentException($"{method.Name} needs the prompt's stored caches", nameof(caches));
        }
        if (readsChunks && caches!.Chunks.Count != prompt.Chunks.Count)
        {
            throw new ArgumentException($"{caches.Chunks.Count} chunk caches for {prompt.Chunks.Count} chunks", nameof(caches));
        }
        var pieces = new List<StoredKvFill.Piece>();
        if (readsPrefix)
        {
            var prefix = Expect(sequence, caches!.Prefix, prompt.Prefix.Length, 0, "the prefix");
            pieces.Add(new StoredKvFill.Piece(sequence.Reserve(prefix.Positions), prefix, Turns: null));
        }
        else
        {
            sequence.Reserve(Positions(0, prompt.Prefix.Length));
        }
        var last = prompt.Prefix.Length - 1;
        for (var i = 0; i < prompt.Chunks.Count; i++)
        {
            var global = Positions(prompt.ChunkStarts[i], prompt.Chunks[i].Length);
            if (!readsChunks)
            {
                sequence.Reserve(global);
                last = global[^1];
                continue;
            }
            var cache = Expect(sequence, caches!.Chunks[i], global.Length, null, $"chunk {i}");
            if (method.Positions == ChunkPositions.Reordered)
            {
                pieces.Add(new StoredKvFill.Piece(sequence.Reserve(global), cache, backend.Rope.TurnTable(cache.Positions, global)));
                last = global[^1];
            }
            else
            {
                pieces.Add(new StoredKvFill.Piece(sequence.Reserve(cache.Positions), cache, Turns: null));
                last = Math.Max(last, cache.Positions[^1]);
            }
        }
        // The question follows the furthest position: with composite positions that is the longest chunk's end.
        sequence.Reserve(Positions(last + 1, prompt.Question.Length));
        return pieces;
    }

    private static IKvLayerSource Expect(KvSequence sequence, IKvLayerSource? cache, int tokens, int? firstPosition, string what)
    {
        if (cache is null || cache.Positions.Length != tokens)
        {
            throw new ArgumentException($"the cache of {what} holds {cache?.Positions.Length ?? 0} tokens; the prompt has {tokens}");
        }
        if (firstPosition is { } p && tokens > 0 && cache.Positions[0] != p)
        {
            throw new ArgumentException($"the cache of {what} starts at position {cache.Positions[0]}, not {p}");
        }
        return sequence.CheckJoins(cache);
    }

    private static int[] Positions(int start, int count) => Enumerable.Range(start, count).ToArray();
}
