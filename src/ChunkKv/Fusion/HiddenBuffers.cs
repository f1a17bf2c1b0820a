namespace ChunkKv.Fusion;

/// <summary>
/// The fuser's hidden-state buffer, kept from one fusion to the next like the sequence's buffers.
/// A fresh array for every context row (15 MB at the 0.5B shape, 8 × 512-token chunks) is first
/// touched page by page, and on a 2-core VM those faults cost 30–50 ms, more than the embedding copy
/// itself. Safe to share between concurrent fusions: one takes the kept buffer, the others allocate.
/// </summary>
internal sealed class HiddenBuffers
{
    private float[]? kept;

    /// <summary>The kept buffer when it holds <paramref name="floats"/> without being far larger (then it stays kept for rows that need it); else a new one.</summary>
    public float[] Take(int floats)
    {
        var buffer = Interlocked.Exchange(ref kept, null);
        if (buffer is not null && buffer.Length >= floats && buffer.Length / 8 <= floats)
        {
            return buffer;
        }
        if (buffer is not null)
        {
            Give(buffer);
        }
        return GC.AllocateUninitializedArray<float>(floats);
    }

    /// <summary>Keeps <paramref name="buffer"/> for the next fusion if it is larger than the one kept.</summary>
    public void Give(float[] buffer)
    {
        var current = Volatile.Read(ref kept);
        while (current is null || current.Length < buffer.Length)
        {
            var seen = Interlocked.CompareExchange(ref kept, buffer, current);
            if (ReferenceEquals(seen, current))
            {
                return;
            }
            current = seen;
        }
    }
}
