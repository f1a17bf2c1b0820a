using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ChunkKv.Caching.Codecs;

/// <summary>Lossless: the floats as they are (little-endian).</summary>
public sealed class Float32Codec : SymmetricKvCodec
{
    public override KvCodecId Id => KvCodecId.F32;
    protected override int Bytes(int tokens, int channels, int headDim) => tokens * channels * sizeof(float);

    protected override void Encode(ReadOnlySpan<float> source, int tokens, int channels, int headDim, Span<byte> destination) =>
        MemoryMarshal.AsBytes(source[..(tokens * channels)]).CopyTo(destination);

    protected override void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination) =>
        MemoryMarshal.Cast<byte, float>(source[..Bytes(tokens, channels, headDim)]).CopyTo(destination);
}

/// <summary>IEEE half precision, round to nearest even (relative error ≤ 2^-11 in the normal range).</summary>
public sealed class Float16Codec : SymmetricKvCodec
{
    public override KvCodecId Id => KvCodecId.F16;
    protected override int Bytes(int tokens, int channels, int headDim) => tokens * channels * 2;

    protected override void Encode(ReadOnlySpan<float> source, int tokens, int channels, int headDim, Span<byte> destination) =>
        TensorPrimitives.ConvertToHalf(source[..(tokens * channels)], MemoryMarshal.Cast<byte, Half>(destination));

    protected override void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source[..Bytes(tokens, channels, headDim)]), destination);
}

/// <summary>bfloat16: the top 16 bits of a float, rounded to nearest even (relative error ≤ 2^-9).</summary>
public sealed class BFloat16Codec : SymmetricKvCodec
{
    public override KvCodecId Id => KvCodecId.BF16;
    protected override int Bytes(int tokens, int channels, int headDim) => tokens * channels * 2;

    protected override void Encode(ReadOnlySpan<float> source, int tokens, int channels, int headDim, Span<byte> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(source[..(tokens * channels)]);
        var output = MemoryMarshal.Cast<byte, ushort>(destination);
        for (var i = 0; i < bits.Length; i++)
        {
            output[i] = FromBits(bits[i]);
        }
    }

    protected override void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination)
    {
        var input = MemoryMarshal.Cast<byte, ushort>(source[..Bytes(tokens, channels, headDim)]);
        var bits = MemoryMarshal.Cast<float, uint>(destination);
        for (var i = 0; i < input.Length; i++)
        {
            bits[i] = (uint)input[i] << 16;
        }
    }

    internal static ushort FromBits(uint bits)
    {
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x40); // NaN stays a (quiet) NaN
        }
        var roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
