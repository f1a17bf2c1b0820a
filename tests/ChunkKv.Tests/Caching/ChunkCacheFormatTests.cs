using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Tests.Caching;

public sealed class ChunkCacheFormatTests
{
    [Theory]
    [InlineData(KvCodecId.F32)]
    [InlineData(KvCodecId.F16)]
    [InlineData(KvCodecId.Int4)]
    public void An_entry_describes_itself_and_decodes_to_what_went_in(KvCodecId codecId)
    {
        var kv = KvSamples.Random(tokens: 40, firstPosition: 17);
        var codec = KvCodec.Create(codecId);

        var chunk = ChunkCacheCodec.Decode(ChunkCacheCodec.Encode(kv, codec, KvSamples.Fingerprint, KvSamples.Key), KvSamples.Fingerprint, KvSamples.Key);

        Assert.Equal(codecId, chunk.Codec);
        Assert.Equal(kv.Positions, chunk.Kv.Positions);
        Assert.Equal(KeyForm.PreRope, chunk.Kv.KeyForm);
        Assert.Equal((kv.Layers, kv.KvHeads, kv.HeadDim), (chunk.Kv.Layers, chunk.Kv.KvHeads, chunk.Kv.HeadDim));
        // Each layer decodes exactly as the codec alone decodes it.
        for (var layer = 0; layer < kv.Layers; layer++)
        {
            var bytes = new byte[codec.KeyBytes(kv.Tokens, kv.RowWidth, kv.HeadDim)];
            codec.EncodeKeys(kv.Keys[layer], kv.Tokens, kv.RowWidth, kv.HeadDim, bytes);
            var expected = new float[kv.Keys[layer].Length];
            codec.DecodeKeys(bytes, kv.Tokens, kv.RowWidth, kv.HeadDim, expected);
            Assert.Equal(expected, chunk.Kv.Keys[layer]);
        }
    }

    [Fact]
    public void Flipping_any_single_byte_anywhere_is_detected()
    {
        var kv = KvSamples.Random(layers: 2, kvHeads: 1, headDim: 8, tokens: 5);
        var entry = ChunkCacheCodec.Encode(kv, new Float16Codec(), KvSamples.Fingerprint, KvSamples.Key);

        for (var offset = 0; offset < entry.Length; offset++)
        {
            var corrupt = (byte[])entry.Clone();
            corrupt[offset] ^= (byte)(1 << (offset % 8));
            Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode(corrupt, KvSamples.Fingerprint, KvSamples.Key));
        }
    }

    [Fact]
    public void Truncated_extended_or_foreign_entries_are_refused()
    {
        var entry = ChunkCacheCodec.Encode(KvSamples.Random(), new Float16Codec(), KvSamples.Fingerprint, KvSamples.Key);
        var otherModel = KvSamples.Fingerprint.Select(b => (byte)~b).ToArray();

        Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode(entry.AsMemory(..^1), KvSamples.Fingerprint, KvSamples.Key));
        Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode((byte[])[.. entry, 0], KvSamples.Fingerprint, KvSamples.Key));
        Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode(entry.AsMemory(..10), KvSamples.Fingerprint, KvSamples.Key));
        var foreign = Assert.Throws<CorruptCacheException>(() => ChunkCacheCodec.Decode(entry, otherModel, KvSamples.Key));
        Assert.Contains("fingerprint", foreign.Message);
    }

    [Fact]
    public void A_checked_entry_names_a_corrupt_layer_before_anything_is_decoded()
    {
        var kv = KvSamples.Random(layers: 4);
        var entry = ChunkCacheCodec.Encode(kv, new Float32Codec(), KvSamples.Fingerprint, KvSamples.Key);
        var header = ChunkCacheHeader.Read(entry);
        entry[header.Sections[2].Offset + 5] ^= 0xFF;

        var corrupt = Assert.Throws<CorruptCacheException>(() => CheckedEntry.Check(entry, KvSamples.Fingerprint, KvSamples.Key));

        Assert.Contains("layer 2", corrupt.Message);
    }

    [Fact]
    public void A_checked_entry_decodes_any_layer_on_its_own_into_the_spans_it_is_given()
    {
        var kv = KvSamples.Random(layers: 3);
        var entry = ChunkCacheCodec.Encode(kv, new Float32Codec(), KvSamples.Fingerprint, KvSamples.Key);
        var released = 0;
        var checkedEntry = CheckedEntry.Check(entry, KvSamples.Fingerprint, KvSamples.Key, () => released++);
        var floats = kv.Tokens * kv.RowWidth;
        // Into the middle of larger buffers, last layer first: as fusion writes slots of a sequence.
        var keys = new float[floats + 10];
        var values = new float[floats + 10];

        foreach (var layer in new[] { 2, 0, 1 })
        {
            checkedEntry.WriteLayer(layer, keys.AsSpan(5, floats), values.AsSpan(5, floats));
            Assert.Equal(kv.Keys[layer], keys.AsSpan(5, floats).ToArray());
            Assert.Equal(kv.Values[layer], values.AsSpan(5, floats).ToArray());
        }
        Assert.Equal(0f, keys[4]);
        Assert.Equal(0f, values[floats + 5]);
        Assert.Equal(kv.Positions, checkedEntry.Positions);
        checkedEntry.Dispose();
        checkedEntry.Dispose();
        Assert.Equal(1, released);
    }

    [Fact]
    public void Keys_change_with_model_engine_version_codec_tokens_and_context_and_only_then()
    {
        var f16 = new Float16Codec();
        var key = ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 3]);

        Assert.Equal(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 3]));
        Assert.NotEqual(key, ChunkCacheKey.Compute(new byte[32], f16, [1, 2, 3]));
        Assert.NotEqual(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, new BFloat16Codec(), [1, 2, 3]));
        Assert.NotEqual(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, new KiviCodec(4, 32), [1, 2, 3]));
        Assert.NotEqual(ChunkCacheKey.Compute(KvSamples.Fingerprint, new KiviCodec(4, 32), [1, 2, 3]),
            ChunkCacheKey.Compute(KvSamples.Fingerprint, new KiviCodec(4, 64), [1, 2, 3]));
        Assert.NotEqual(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 4]));
        Assert.NotEqual(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 3], "prefix"u8));
        Assert.Equal(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 3], kvComputeVersion: ChunkKv.Inference.Models.Transformer.KvComputeVersion));
        Assert.NotEqual(key, ChunkCacheKey.Compute(KvSamples.Fingerprint, f16, [1, 2, 3], kvComputeVersion: ChunkKv.Inference.Models.Transformer.KvComputeVersion + 1));
        Assert.Matches("^[0-9a-f]{64}$", key.Hex);
    }
}
