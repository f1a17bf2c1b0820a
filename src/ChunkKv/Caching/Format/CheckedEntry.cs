using ChunkKv.Caching.Codecs;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>
/// A stored entry whose header, fingerprint and every layer's checksum have passed, not yet decoded.
/// Fusion decodes its layers straight into the fused sequence's slots (<see cref="IKvLayerSource"/>),
/// so a hit is decoded once, into the buffers attention reads. It reads the tier's bytes in place (a
/// Redis lease among them) until it is disposed; disposing hands them back to the store, which then
/// promotes the entry into the faster tiers.
/// </summary>
public sealed class CheckedEntry : IStoredEntry
{
    private readonly ReadOnlyMemory<byte> bytes;
    private readonly ChunkCacheHeader header;
    private readonly KvCodec codec;
    private Action? release;

    private CheckedEntry(ReadOnlyMemory<byte> bytes, ChunkCacheHeader header, Action? release)
    {
        this.bytes = bytes;
        this.header = header;
        this.release = release;
        codec = KvCodec.Create(header.Codec, header.GroupSize);
    }

    /// <summary>
    /// Checks the header, the fingerprint, the key and every layer's checksum (in parallel); throws
    /// <see cref="CorruptCacheException"/> on any failure. An intact entry stored under another key (a
    /// file copied over another's) is refused like a corrupt one: it is another chunk's cache.
    /// </summary>
    /// <param name="entry">Read in place: it must stay valid until the entry is disposed.</param>
    /// <param name="expectedKey">The key it was looked up by.</param>
    /// <param name="release">Run once, on <see cref="Dispose"/>: what lets go of <paramref name="entry"/>.</param>
    public static CheckedEntry Check(ReadOnlyMemory<byte> entry, ReadOnlySpan<byte> expectedFingerprint, ChunkCacheKey expectedKey, Action? release = null)
    {
        var header = ChunkCacheHeader.Read(entry.Span);
        CheckNames(header, expectedFingerprint, expectedKey);
        var failed = new bool[header.Layers];
        Parallel.For(0, header.Layers, layer =>
        {
            var section = header.Sections[layer];
            failed[layer] = Crc32C.Compute(entry.Span.Slice((int)section.Offset, section.Length)) != section.Crc;
        });
        if (Array.IndexOf(failed, true) is var corrupt and >= 0)
        {
            throw new CorruptCacheException($"layer {corrupt}: section checksum mismatch");
        }
        return new CheckedEntry(entry, header, release);
    }

    /// <summary>Throws <see cref="CorruptCacheException"/> unless the header names the expected model and key.</summary>
    public static void CheckNames(ChunkCacheHeader header, ReadOnlySpan<byte> expectedFingerprint, ChunkCacheKey expectedKey)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (!expectedFingerprint.SequenceEqual(header.Fingerprint))
        {
            throw new CorruptCacheException("entry was computed by a different model (fingerprint mismatch)");
        }
        if (!expectedKey.ToBytes().AsSpan().SequenceEqual(header.Key))
        {
            throw new CorruptCacheException($"entry is the cache of {Convert.ToHexStringLower(header.Key)}, not of {expectedKey}");
        }
    }

    public int Layers => header.Layers;
    public int KvHeads => header.KvHeads;
    public int HeadDim => header.HeadDim;
    public int Tokens => header.Positions.Length;
    public int[] Positions => header.Positions;
    public KeyForm KeyForm => header.KeyForm;
    public KvCodecId Codec => header.Codec;

    public void WriteLayer(int layer, Span<float> keys, Span<float> values)
    {
        var section = header.Sections[layer];
        DecodeSection(header, codec, bytes.Span.Slice((int)section.Offset, section.Length), keys, values);
    }

    /// <summary>One layer's section (K then V, as the codec wrote them) decoded into the spans.</summary>
    internal static void DecodeSection(ChunkCacheHeader header, KvCodec codec, ReadOnlySpan<byte> section, Span<float> keys, Span<float> values)
    {
        var keyBytes = codec.KeyBytes(header.Tokens, header.RowWidth, header.HeadDim);
        codec.DecodeKeys(section[..keyBytes], header.Tokens, header.RowWidth, header.HeadDim, keys);
        codec.DecodeValues(section[keyBytes..], header.Tokens, header.RowWidth, header.HeadDim, values);
    }

    /// <summary>The whole chunk decoded into a cache of its own (every layer in parallel).</summary>
    public CachedChunk Decode()
    {
        var kv = KvCache.Uninitialized(Layers, KvHeads, HeadDim, Positions, KeyForm);
        Parallel.For(0, Layers, layer => WriteLayer(layer, kv.Keys[layer], kv.Values[layer]));
        return new CachedChunk(kv, header.Codec, header.Fingerprint);
    }

    public void Dispose() => Interlocked.Exchange(ref release, null)?.Invoke();
}
