using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ChunkKv.Caching.Codecs;

/// <summary>
/// KIVI-style asymmetric 4- or 2-bit quantization (Liu et al., 2024): keys per channel over groups
/// of <see cref="GroupSize"/> tokens (key outliers live in fixed channels), values per token over
/// groups of <see cref="GroupSize"/> channels. Each group keeps a half-precision scale and minimum;
/// both are rounded outwards so every element lies inside the group's grid and the error is at
/// most half a step, (max - min) / (2 (2^bits - 1)).
/// Key layout: per token group, scales[channels] and mins[channels]; then every token's packed row.
/// Value layout: per token, scales[groups] and mins[groups]; then every token's packed row.
/// </summary>
public sealed class KiviCodec : KvCodec
{
    private readonly int _bits;
    private readonly int _levels;

    public KiviCodec(int bits, int groupSize)
    {
        if (bits is not (2 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "KIVI codec supports 2 and 4 bits");
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groupSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(groupSize, ushort.MaxValue);
        _bits = bits;
        _levels = (1 << bits) - 1;
        GroupSize = groupSize;
    }

    public override KvCodecId Id => _bits == 4 ? KvCodecId.Int4 : KvCodecId.Int2;
    public override int GroupSize { get; }

    private int RowBytes(int channels) => (channels * _bits + 7) / 8;
    private int KeyGroups(int tokens) => (tokens + GroupSize - 1) / GroupSize;
    private int ValueGroups(int channels) => (channels + GroupSize - 1) / GroupSize;

    public override int KeyBytes(int tokens, int channels, int headDim) =>
        KeyGroups(tokens) * channels * 2 * 2 + tokens * RowBytes(channels);

    public override int ValueBytes(int tokens, int channels, int headDim) =>
        tokens * ValueGroups(channels) * 2 * 2 + tokens * RowBytes(channels);

    public override void EncodeKeys(ReadOnlySpan<float> keys, int tokens, int channels, int headDim, Span<byte> destination)
    {
        var metadata = MemoryMarshal.Cast<byte, Half>(destination[..(KeyGroups(tokens) * channels * 4)]);
        var codes = destination[(KeyGroups(tokens) * channels * 4)..];
        var rowBytes = RowBytes(channels);
        var min = new float[channels];
        var max = new float[channels];
        var scale = new float[channels];
        var low = new float[channels];
        for (int group = 0, t0 = 0; t0 < tokens; group++, t0 += GroupSize)
        {
            var t1 = Math.Min(tokens, t0 + GroupSize);
            keys.Slice(t0 * channels, channels).CopyTo(min);
            keys.Slice(t0 * channels, channels).CopyTo(max);
            for (var t = t0 + 1; t < t1; t++)
            {
                TensorPrimitives.Min(min, keys.Slice(t * channels, channels), min);
                TensorPrimitives.Max(max, keys.Slice(t * channels, channels), max);
            }
            var scales = metadata.Slice(group * channels * 2, channels);
            var mins = metadata.Slice(group * channels * 2 + channels, channels);
            for (var c = 0; c < channels; c++)
            {
                (scales[c], mins[c]) = Grid(min[c], max[c]);
                scale[c] = (float)scales[c];
                low[c] = (float)mins[c];
            }
            for (var t = t0; t < t1; t++)
            {
                PackRow(keys.Slice(t * channels, channels), scale, low, codes.Slice(t * rowBytes, rowBytes));
            }
        }
    }

    public override void DecodeKeys(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> keys)
    {
        var metadata = MemoryMarshal.Cast<byte, Half>(source[..(KeyGroups(tokens) * channels * 4)]);
        var codes = source[(KeyGroups(tokens) * channels * 4)..];
        var rowBytes = RowBytes(channels);
        var scale = new float[channels];
        var low = new float[channels];
        for (int group = 0, t0 = 0; t0 < tokens; group++, t0 += GroupSize)
        {
            TensorPrimitives.ConvertToSingle(metadata.Slice(group * channels * 2, channels), scale);
            TensorPrimitives.ConvertToSingle(metadata.Slice(group * channels * 2 + channels, channels), low);
            for (var t = t0; t < Math.Min(tokens, t0 + GroupSize); t++)
            {
                var row = keys.Slice(t * channels, channels);
                UnpackRow(codes.Slice(t * rowBytes, rowBytes), row);
                TensorPrimitives.FusedMultiplyAdd(row, scale, low, row);
            }
        }
    }

    public override void EncodeValues(ReadOnlySpan<float> values, int tokens, int channels, int headDim, Span<byte> destination)
    {
        var groups = ValueGroups(channels);
        var metadata = MemoryMarshal.Cast<byte, Half>(destination[..(tokens * groups * 4)]);
        var codes = destination[(tokens * groups * 4)..];
        var rowBytes = RowBytes(channels);
        var scale = new float[channels];
        var low = new float[channels];
        for (var t = 0; t < tokens; t++)
        {
            var row = values.Slice(t * channels, channels);
            for (var g = 0; g < groups; g++)
            {
                var c0 = g * GroupSize;
                var span = row.Slice(c0, Math.Min(GroupSize, channels - c0));
                var (s, m) = Grid(TensorPrimitives.Min(span), TensorPrimitives.Max(span));
                metadata[(t * groups + g) * 2] = s;
                metadata[(t * groups + g) * 2 + 1] = m;
                scale.AsSpan(c0, span.Length).Fill((float)s);
                low.AsSpan(c0, span.Length).Fill((float)m);
            }
            PackRow(row, scale, low, codes.Slice(t * rowBytes, rowBytes));
        }
    }

    public override void DecodeValues(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> values)
    {
        var groups = ValueGroups(channels);
        var metadata = MemoryMarshal.Cast<byte, Half>(source[..(tokens * groups * 4)]);
        var codes = source[(tokens * groups * 4)..];
        var rowBytes = RowBytes(channels);
        for (var t = 0; t < tokens; t++)
        {
            var row = values.Slice(t * channels, channels);
            UnpackRow(codes.Slice(t * rowBytes, rowBytes), row);
            for (var g = 0; g < groups; g++)
            {
                var c0 = g * GroupSize;
                var span = row.Slice(c0, Math.Min(GroupSize, channels - c0));
                TensorPrimitives.Multiply(span, (float)metadata[(t * groups + g) * 2], span);
                TensorPrimitives.Add(span, (float)metadata[(t * groups + g) * 2 + 1], span);
            }
        }
    }

    /// <summary>Half-precision scale and minimum whose grid covers [min, max]: min rounded down, scale up.</summary>
    private (Half Scale, Half Min) Grid(float min, float max)
    {
        var low = (Half)min;
        if ((float)low > min)
        {
            low = Half.BitDecrement(low);
        }
        var range = max - (float)low;
        var scale = (Half)(range / _levels);
        if ((float)scale * _levels < range)
        {
            scale = Half.BitIncrement(scale);
        }
        return (scale, low);
    }

    /// <summary>
    /// Codes of one row, <c>round((x - low) / scale)</c> clamped to the grid, packed low bits
    /// first. A zero scale (a constant group) codes everything as 0.
    /// </summary>
    private void PackRow(ReadOnlySpan<float> row, ReadOnlySpan<float> scale, ReadOnlySpan<float> low, Span<byte> packed)
    {
        Span<float> codes = stackalloc float[row.Length];
        TensorPrimitives.Subtract(row, low, codes);
        TensorPrimitives.Divide(codes, scale, codes);
        TensorPrimitives.Round(codes, codes);
        TensorPrimitives.Min(codes, _levels, codes);
        TensorPrimitives.Max(codes, 0f, codes);
        packed.Clear();
        var perByte = 8 / _bits;
        for (var c = 0; c < row.Length; c++)
        {
            var code = float.IsNaN(codes[c]) ? 0 : (int)codes[c]; // NaN: 0/0 of a zero scale
            packed[c / perByte] |= (byte)(code << (c % perByte * _bits));
        }
    }

    /// <summary>
    /// The codes of one row as floats, by table: one byte gives its two 4-bit codes as one 8-byte
    /// store, or its four 2-bit codes as one 16-byte store.
    /// </summary>
    private void UnpackRow(ReadOnlySpan<byte> packed, Span<float> row)
    {
        int whole;
        if (_bits == 4)
        {
            var pairs = MemoryMarshal.Cast<float, ulong>(row);
            whole = pairs.Length;
            for (var i = 0; i < pairs.Length; i++)
            {
                pairs[i] = NibblePairs[packed[i]];
            }
            whole *= 2;
        }
        else
        {
            var quads = MemoryMarshal.Cast<float, Vector128<float>>(row);
            for (var i = 0; i < quads.Length; i++)
            {
                quads[i] = CrumbQuads[packed[i]];
            }
            whole = quads.Length * 4;
        }
        for (var c = whole; c < row.Length; c++)
        {
            row[c] = (packed[c * _bits / 8] >> (c * _bits % 8)) & _levels;
        }
    }

    /// <summary>For each byte, its two 4-bit codes as floats (low nibble first) in one 8-byte word.</summary>
    private static readonly ulong[] NibblePairs = Enumerable.Range(0, 256)
        .Select(b => MemoryMarshal.Cast<float, ulong>(CodesOf(b, 4))[0]).ToArray();

    /// <summary>For each byte, its four 2-bit codes as floats (lowest bits first).</summary>
    private static readonly Vector128<float>[] CrumbQuads = Enumerable.Range(0, 256)
        .Select(b => Vector128.Create(CodesOf(b, 2))).ToArray();

    private static float[] CodesOf(int packedByte, int bits) =>
        Enumerable.Range(0, 8 / bits).Select(j => (float)((packedByte >> (j * bits)) & ((1 << bits) - 1))).ToArray();
}
