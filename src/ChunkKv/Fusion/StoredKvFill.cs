using System.Diagnostics;
using System.Runtime.ExceptionServices;
using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>
/// Writes the prompt's stored K/V into the fused sequence's reserved slots layer by layer, lowest
/// first, on a background thread, turning each piece's keys to its slots' positions as the layer
/// lands. Stored entries decode straight into the slots (<see cref="IKvLayerSource"/>), so there is
/// no intermediate copy, and computing layer L waits for layer L only (<see cref="WaitFor"/>).
/// A layer nobody has started yet is filled by the thread that waits for it, so a core never idles
/// behind a lagging fill. The fill never takes the engine's workers (that would leave the computation
/// one thread short until it let go). Before the sequence or the sources are used elsewhere, <see cref="Finish"/>
/// must have returned: the background thread writes into the one and reads the other.
/// A source streamed from Redis (<see cref="Caching.Format.StreamedEntry"/>) may still have a layer on the
/// wire: the fill waits for it there, and a layer that fails its check is rethrown by <see cref="WaitFor"/>
/// (<see cref="Caching.Format.StoredLayerLostException"/>), which ends the fusion.
/// </summary>
internal sealed class StoredKvFill
{
    /// <summary>One piece: its first slot, its stored K/V, and the RoPE table of its turns (null: it stays where it was computed).</summary>
    internal sealed record Piece(int FirstSlot, IKvLayerSource Source, (float[] Cos, float[] Sin)? Turns);

    private readonly KvSequence sequence;
    private readonly IComputeBackend backend;
    private readonly IReadOnlyList<Piece> pieces;
    private readonly int[] claimed;
    private readonly TaskCompletionSource[] filled;
    private readonly Exception?[] faults;
    private Task background = Task.CompletedTask;
    private long fillTicks;
    private long waitTicks;

    public StoredKvFill(IComputeBackend backend, KvSequence sequence, IReadOnlyList<Piece> pieces)
    {
        this.sequence = sequence;
        this.backend = backend;
        this.pieces = pieces;
        claimed = new int[sequence.Layers];
        filled = Enumerable.Range(0, sequence.Layers).Select(_ => new TaskCompletionSource()).ToArray();
        faults = new Exception?[sequence.Layers];
    }

    /// <summary>Thread time spent writing stored K/V, on the background thread and by waiters.</summary>
    public TimeSpan Busy => TimeSpan.FromTicks(Interlocked.Read(ref fillTicks));

    /// <summary>Time computation spent waiting for a layer the background thread was still writing.</summary>
    public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref waitTicks));

    /// <summary>Starts the background fill (nothing to do without pieces).</summary>
    public void Start()
    {
        if (pieces.Count == 0)
        {
            for (var layer = 0; layer < filled.Length; layer++)
            {
                TryFill(layer);
            }
            return;
        }
        background = Task.Run(() =>
        {
            for (var layer = 0; layer < filled.Length; layer++)
            {
                TryFill(layer);
            }
        });
    }

    /// <summary>Returns once layer <paramref name="layer"/>'s stored K/V are in their slots; rethrows what writing them threw.</summary>
    public void WaitFor(int layer)
    {
        if (!TryFill(layer) && !filled[layer].Task.IsCompleted)
        {
            var clock = Stopwatch.StartNew();
            filled[layer].Task.Wait();
            Interlocked.Add(ref waitTicks, clock.Elapsed.Ticks);
        }
        if (faults[layer] is { } fault)
        {
            ExceptionDispatchInfo.Throw(fault);
        }
    }

    /// <summary>Every layer, as <see cref="WaitFor"/>.</summary>
    public void WaitForAll()
    {
        for (var layer = 0; layer < filled.Length; layer++)
        {
            WaitFor(layer);
        }
    }

    /// <summary>
    /// Stops the fill and returns once the background thread has stopped touching the sequence and
    /// the sources. Layers nobody has started are left unwritten: after <see cref="WaitForAll"/>
    /// there are none, and after a failed fusion nobody reads them.
    /// </summary>
    public void Finish()
    {
        for (var layer = 0; layer < filled.Length; layer++)
        {
            if (Interlocked.CompareExchange(ref claimed[layer], 1, 0) == 0)
            {
                filled[layer].SetResult();
            }
        }
        background.Wait();
    }

    private bool TryFill(int layer)
    {
        if (Interlocked.CompareExchange(ref claimed[layer], 1, 0) != 0)
        {
            return false;
        }
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var piece in pieces)
            {
                backend.WriteLayer(sequence, layer, piece.FirstSlot, piece.Source);
                if (piece.Turns is { } turns)
                {
                    backend.TurnKeys(sequence, layer, piece.FirstSlot, piece.Source.Positions.Length, turns.Cos, turns.Sin, onThisThread: true);
                }
            }
        }
#pragma warning disable CA1031 // kept for the computing thread, which rethrows it at this layer
        catch (Exception e)
#pragma warning restore CA1031
        {
            faults[layer] = e;
        }
        finally
        {
            Interlocked.Add(ref fillTicks, clock.Elapsed.Ticks);
            filled[layer].SetResult();
        }
        return true;
    }
}
