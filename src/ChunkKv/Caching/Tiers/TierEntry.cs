namespace ChunkKv.Caching.Tiers;

/// <summary>
/// An entry's bytes as a tier hands them back: an array the tier keeps (memory, disk), or a pooled
/// buffer on loan (a Redis lease) that is returned on <see cref="Dispose"/>. The store checks and
/// decodes straight from <see cref="Bytes"/>, so a Redis hit is never copied on the way to its K/V.
/// </summary>
public sealed class TierEntry : IDisposable
{
    private readonly byte[]? _array;
    private IDisposable? _loan;

    public TierEntry(byte[] bytes)
    {
        _array = bytes;
        Bytes = bytes;
    }

    /// <param name="loan">Released on <see cref="Dispose"/>; <paramref name="bytes"/> are invalid after that.</param>
    public TierEntry(ReadOnlyMemory<byte> bytes, IDisposable loan)
    {
        Bytes = bytes;
        _loan = loan;
    }

    public ReadOnlyMemory<byte> Bytes { get; }

    public int Length => Bytes.Length;

    /// <summary>An array another tier may keep: the tier's own array, or a copy of a loaned buffer.</summary>
    public byte[] ToArray()
    {
        if (_array is not null)
        {
            return _array;
        }
        var copy = GC.AllocateUninitializedArray<byte>(Bytes.Length);
        Bytes.Span.CopyTo(copy);
        return copy;
    }

    public void Dispose()
    {
        _loan?.Dispose();
        _loan = null;
    }
}
