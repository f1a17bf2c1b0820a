using ChunkKv.Caching.Codecs;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>A chunk's cache as stored: the KV, the codec it was stored with, and the fingerprint of the model that computed it.</summary>
public sealed record CachedChunk(KvCache Kv, KvCodecId Codec, byte[] Fingerprint);

/// <summary>Turns a <see cref="KvCache"/> into a stored entry and back (see <see cref="ChunkCacheHeader"/> for the layout).</summary>
public static class ChunkCacheCodec
{
    /// <summary>Encodes every layer (in parallel) behind a checked header that names the model and the key it is the cache of.</summary>
    public static byte[] Encode(KvCache kv, KvCodec codec, ReadOnlySpan<byte> fingerprint, ChunkCacheKey key)
    {
        if (fingerprint.Length != ChunkCacheHeader.FingerprintBytes)
        {
            throw new ArgumentException($"a model fingerprint is {ChunkCacheHeader.FingerprintBytes} bytes, not {fingerprint.Length}");
        }
        var keyBytes = codec.KeyBytes(kv.Tokens, kv.RowWidth, kv.HeadDim);
        var sectionBytes = keyBytes + codec.ValueBytes(kv.Tokens, kv.RowWidth, kv.HeadDim);
        var header = new ChunkCacheHeader
        {
            Codec = codec.Id,
            GroupSize = codec.GroupSize,
            KeyForm = kv.KeyForm,
            Layers = kv.Layers,
            KvHeads = kv.KvHeads,
            HeadDim = kv.HeadDim,
            Fingerprint = fingerprint.ToArray(),
            Key = key.ToBytes(),
            Positions = kv.Positions,
        };
        var headerBytes = header.Size;
        var entry = new byte[headerBytes + (long)sectionBytes * kv.Layers];
        var sections = new LayerSection[kv.Layers];
        Parallel.For(0, kv.Layers, layer =>
        {
            var offset = headerBytes + (long)sectionBytes * layer;
            var section = entry.AsSpan((int)offset, sectionBytes);
            codec.EncodeKeys(kv.Keys[layer], kv.Tokens, kv.RowWidth, kv.HeadDim, section[..keyBytes]);
            codec.EncodeValues(kv.Values[layer], kv.Tokens, kv.RowWidth, kv.HeadDim, section[keyBytes..]);
            sections[layer] = new LayerSection(offset, sectionBytes, Crc32C.Compute(section));
        });
        header.Sections = sections;
        header.Write(entry);
        return entry;
    }

    /// <summary>Checks and decodes a whole entry; any failed check throws <see cref="CorruptCacheException"/>.</summary>
    public static CachedChunk Decode(ReadOnlyMemory<byte> entry, ReadOnlySpan<byte> expectedFingerprint, ChunkCacheKey expectedKey) =>
        CheckedEntry.Check(entry, expectedFingerprint, expectedKey).Decode();
}
