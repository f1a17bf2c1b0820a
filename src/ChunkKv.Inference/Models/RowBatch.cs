using ChunkKv.Inference.Kv;

namespace ChunkKv.Inference.Models;

/// <summary>
/// The token rows one forward call computes: which slots of the sequence they fill and at which
/// positions, with their rotary table worked out once for all layers.
/// </summary>
public sealed class RowBatch
{
    internal RowBatch(int[] slots, int[] positions, Rope rope)
    {
        Slots = slots;
        Positions = positions;
        (Cos, Sin) = rope.Table(positions);
    }

    /// <summary>Slot of each row in the <see cref="KvSequence"/>.</summary>
    public int[] Slots { get; }

    /// <summary>Position of each row (the position of its slot).</summary>
    public int[] Positions { get; }

    public int Count => Slots.Length;
    internal float[] Cos { get; }
    internal float[] Sin { get; }
}
