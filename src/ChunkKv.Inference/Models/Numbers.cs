using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace ChunkKv.Inference.Models;

/// <summary>Conversions from the stored weight types to float, the compute type.</summary>
public static class Numbers
{
    /// <summary>bfloat16 with round-to-nearest-even (the upper half of a float32).</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        bits += 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }

    public static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Converts little-endian stored elements to floats.</summary>
    public static void ToSingle(ReadOnlySpan<byte> source, TensorType type, Span<float> destination)
    {
        switch (type)
        {
            case TensorType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case TensorType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            default:
                Tensors.WeightRows.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
        }
    }
}
