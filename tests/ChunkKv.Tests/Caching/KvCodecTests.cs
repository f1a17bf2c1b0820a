using ChunkKv.Caching.Codecs;

namespace ChunkKv.Tests.Caching;

public sealed class KvCodecTests
{
    private const int Tokens = 100, Heads = 2, HeadDim = 64, Width = Heads * HeadDim;

    private static (float[] Keys, float[] Values) RoundTrip(KvCodec codec, float[] keys, float[] values,
        int tokens = Tokens, int width = Width, int headDim = HeadDim)
    {
        var keyBytes = new byte[codec.KeyBytes(tokens, width, headDim)];
        var valueBytes = new byte[codec.ValueBytes(tokens, width, headDim)];
        codec.EncodeKeys(keys, tokens, width, headDim, keyBytes);
        codec.EncodeValues(values, tokens, width, headDim, valueBytes);
        var k = new float[keys.Length];
        var v = new float[values.Length];
        codec.DecodeKeys(keyBytes, tokens, width, headDim, k);
        codec.DecodeValues(valueBytes, tokens, width, headDim, v);
        return (k, v);
    }

    private static (float[] Keys, float[] Values) Sample()
    {
        var kv = KvSamples.Random(layers: 1, kvHeads: Heads, headDim: HeadDim, tokens: Tokens);
        return (kv.Keys[0], kv.Values[0]);
    }

    [Fact]
    public void F32_is_lossless()
    {
        var (keys, values) = Sample();
        var (k, v) = RoundTrip(new Float32Codec(), keys, values);
        Assert.Equal(keys, k);
        Assert.Equal(values, v);
    }

    [Fact]
    public void F16_matches_the_scalar_half_conversion_exactly()
    {
        var (keys, values) = Sample();
        var (k, v) = RoundTrip(new Float16Codec(), keys, values);
        Assert.Equal(keys.Select(x => (float)(Half)x), k);
        Assert.Equal(values.Select(x => (float)(Half)x), v);
    }

    [Fact]
    public void BF16_keeps_the_relative_error_within_half_an_ulp_and_is_exact_on_representable_values()
    {
        var (keys, values) = Sample();
        var (k, v) = RoundTrip(new BFloat16Codec(), keys, values);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.True(MathF.Abs(keys[i] - k[i]) <= MathF.Abs(keys[i]) * MathF.Pow(2, -8), $"key {i}: {keys[i]} -> {k[i]}");
            Assert.True(MathF.Abs(values[i] - v[i]) <= MathF.Abs(values[i]) * MathF.Pow(2, -8), $"value {i}");
        }
        float[] exact = [1f, -2.5f, 0.15625f, 65536f, 0f];
        Assert.Equal(exact, exact.Select(x => BitConverter.UInt32BitsToSingle((uint)BFloat16Codec.FromBits(BitConverter.SingleToUInt32Bits(x)) << 16)));
        Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle((uint)BFloat16Codec.FromBits(BitConverter.SingleToUInt32Bits(float.NaN)) << 16)));
    }

    [Fact]
    public void BF16_vector_rounding_matches_the_scalar_reference_on_every_kind_of_bit_pattern()
    {
        var random = new Random(5);
        var bits = Enumerable.Range(0, 4099).Select(_ => (uint)random.NextInt64(0, 1L << 32)).ToList();
        // Rounding ties (both parities), infinities, NaNs, denormals, zeros, the largest finite value.
        bits.AddRange([0x3F80_8000, 0x3F81_8000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0xFFFF_FFFF,
            0x0000_0001, 0x8000_7FFF, 0, 0x8000_0000, 0x7F7F_FFFF]);
        var source = bits.Select(BitConverter.UInt32BitsToSingle).ToArray();
        var encoded = new byte[source.Length * 2];
        new BFloat16Codec().EncodeKeys(source, source.Length, 1, 1, encoded);

        var expected = bits.Select(BFloat16Codec.FromBits).ToArray();
        Assert.Equal(expected, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(encoded).ToArray());
        var decoded = new float[source.Length];
        new BFloat16Codec().DecodeKeys(encoded, source.Length, 1, 1, decoded);
        Assert.Equal(expected.Select(h => (uint)h << 16), decoded.Select(BitConverter.SingleToUInt32Bits));
    }

    [Theory]
    [InlineData(KvCodecId.Int8, 0f, 0f)] // zero rows: a zero scale per head
    [InlineData(KvCodecId.Int4, 0.75f, -1.25f)] // constant groups: a zero KIVI scale, everything at the minimum
    [InlineData(KvCodecId.Int2, 0.75f, -1.25f)]
    public void Quantizers_reproduce_groups_without_spread_exactly(KvCodecId id, float key, float value)
    {
        var keys = Enumerable.Repeat(key, Tokens * Width).ToArray();
        var values = Enumerable.Repeat(value, Tokens * Width).ToArray();
        var (k, v) = RoundTrip(KvCodec.Create(id), keys, values);
        Assert.Equal(keys, k);
        Assert.Equal(values, v);
    }

    [Fact]
    public void Int8_error_is_at_most_half_a_step_of_each_heads_scale()
    {
        var (keys, values) = Sample();
        var (k, v) = RoundTrip(new Int8Codec(), keys, values);
        foreach (var (original, decoded) in new[] { (keys, k), (values, v) })
        {
            for (var group = 0; group < Tokens * Heads; group++)
            {
                var row = original.AsSpan(group * HeadDim, HeadDim);
                var bound = row.ToArray().Max(MathF.Abs) / 254f * 1.0001f;
                for (var i = 0; i < HeadDim; i++)
                {
                    Assert.True(MathF.Abs(row[i] - decoded[group * HeadDim + i]) <= bound);
                }
            }
        }
    }

    [Theory]
    [InlineData(4, 64)]
    [InlineData(4, 32)]
    [InlineData(2, 64)]
    [InlineData(4, 48)] // groups that do not divide the 100 tokens or 128 channels
    public void Kivi_error_is_at_most_half_a_step_of_each_group(int bits, int groupSize)
    {
        var (keys, values) = Sample();
        var (k, v) = RoundTrip(new KiviCodec(bits, groupSize), keys, values);
        AssertKiviWithinHalfSteps(keys, values, k, v, Tokens, Width, bits, groupSize);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void Kivi_rows_whose_width_is_not_a_whole_number_of_bytes_keep_their_last_codes(int bits)
    {
        const int tokens = 7, heads = 3, headDim = 5, width = heads * headDim, groupSize = 4;
        var kv = KvSamples.Random(layers: 1, kvHeads: heads, headDim: headDim, tokens: tokens);
        var (k, v) = RoundTrip(new KiviCodec(bits, groupSize), kv.Keys[0], kv.Values[0], tokens, width, headDim);
        AssertKiviWithinHalfSteps(kv.Keys[0], kv.Values[0], k, v, tokens, width, bits, groupSize);
    }

    /// <summary>Keys within half a step of their group per channel over tokens; values per token over channels.</summary>
    private static void AssertKiviWithinHalfSteps(float[] keys, float[] values, float[] k, float[] v, int tokens, int width,
        int bits, int groupSize)
    {
        var levels = (1 << bits) - 1;
        for (var t0 = 0; t0 < tokens; t0 += groupSize)
        {
            for (var c = 0; c < width; c++)
            {
                var group = Enumerable.Range(t0, Math.Min(groupSize, tokens - t0)).Select(t => t * width + c).ToArray();
                AssertWithinHalfStep(keys, k, group, levels);
            }
        }
        for (var t = 0; t < tokens; t++)
        {
            for (var c0 = 0; c0 < width; c0 += groupSize)
            {
                var group = Enumerable.Range(c0, Math.Min(groupSize, width - c0)).Select(c => t * width + c).ToArray();
                AssertWithinHalfStep(values, v, group, levels);
            }
        }
    }

    private static void AssertWithinHalfStep(float[] original, float[] decoded, int[] group, int levels)
    {
        var range = group.Max(i => original[i]) - group.Min(i => original[i]);
        // Half a step, plus the slack of rounding the half-precision scale and minimum outwards.
        var bound = range / (2 * levels) * 1.002f + MathF.Abs(group.Min(i => original[i])) * 1e-3f + 1e-6f;
        foreach (var i in group)
        {
            Assert.True(MathF.Abs(original[i] - decoded[i]) <= bound, $"element {i}: {original[i]} -> {decoded[i]} (bound {bound})");
        }
    }

    [Fact]
    public void Int4_stores_a_512_token_chunk_at_least_3_5_times_smaller_than_f16()
    {
        // Qwen2.5-0.5B: 2 KV heads of 64.
        var f16 = KvCodec.Create(KvCodecId.F16);
        var int4 = KvCodec.Create(KvCodecId.Int4);
        double Bytes(KvCodec c) => c.KeyBytes(512, 128, 64) + c.ValueBytes(512, 128, 64);

        Assert.True(Bytes(f16) / Bytes(int4) >= 3.5, $"ratio {Bytes(f16) / Bytes(int4):F2}");
        Assert.True(Bytes(int4) / Bytes(KvCodec.Create(KvCodecId.Int2)) > 1.6);
    }

    [Theory]
    [InlineData("f16", KvCodecId.F16)]
    [InlineData("INT4", KvCodecId.Int4)]
    [InlineData("bf16", KvCodecId.BF16)]
    public void Codec_names_parse(string name, KvCodecId id) => Assert.Equal(id, KvCodec.ParseId(name));

    [Fact]
    public void An_unknown_codec_name_is_refused_with_the_known_ones_listed()
    {
        var error = Assert.Throws<FormatException>(() => KvCodec.ParseId("fp8"));
        Assert.Contains("int4", error.Message);
    }
}
