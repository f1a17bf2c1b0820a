using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 2 * Vector256<uint>.Count <= bits.Length; i += 2 * Vector256<uint>.Count)
            {
                var low = FromBits(Vector256.Create(bits.Slice(i, Vector256<uint>.Count)));
                var high = FromBits(Vector256.Create(bits.Slice(i + Vector256<uint>.Count, Vector256<uint>.Count)));
                Vector256.Narrow(low, high).CopyTo(output[i..]);
            }
        }
        for (; i < bits.Length; i++)
        {
            output[i] = FromBits(bits[i]);
        }
    }

    protected override void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination)
    {
        // Widen each 16-bit pattern into the top half of a 32-bit float.
        var input = MemoryMarshal.Cast<byte, ushort>(source[..Bytes(tokens, channels, headDim)]);
        var bits = MemoryMarshal.Cast<float, uint>(destination[..input.Length]);
        TensorPrimitives.ConvertChecked<ushort, uint>(input, bits);
        TensorPrimitives.ShiftLeft(bits, 16, bits);
    }

    /// <summary>The scalar rounding, the reference the vector path follows.</summary>
    internal static ushort FromBits(uint bits)
    {
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x40); // NaN stays a (quiet) NaN
        }
        var roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary><see cref="FromBits(uint)"/> on eight floats, each result in the low half of its lane.</summary>
    private static Vector256<uint> FromBits(Vector256<uint> bits)
    {
        var rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        var quietNaN = (bits >> 16) | Vector256.Create(0x40u);
        var isNaN = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(isNaN, quietNaN, rounded);
    }
}
