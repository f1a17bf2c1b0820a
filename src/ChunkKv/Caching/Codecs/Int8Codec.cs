using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace ChunkKv.Caching.Codecs;

/// <summary>
/// Symmetric 8-bit quantization with one float scale per (token, head): each head's row is
/// scaled by its largest magnitude / 127, so the error is at most half a step, maxabs / 254.
/// Layout: all scales (<c>tokens * heads</c> floats), then all codes (<c>tokens * channels</c> sbytes).
/// </summary>
public sealed class Int8Codec : SymmetricKvCodec
{
    public override KvCodecId Id => KvCodecId.Int8;

    protected override int Bytes(int tokens, int channels, int headDim) =>
        tokens * (channels / headDim) * sizeof(float) + tokens * channels;

    protected override void Encode(ReadOnlySpan<float> source, int tokens, int channels, int headDim, Span<byte> destination)
    {
        var groups = tokens * (channels / headDim);
        var scales = MemoryMarshal.Cast<byte, float>(destination[..(groups * sizeof(float))]);
        var codes = MemoryMarshal.Cast<byte, sbyte>(destination.Slice(groups * sizeof(float), tokens * channels));
        Span<float> scaled = stackalloc float[headDim];
        for (var g = 0; g < groups; g++)
        {
            var row = source.Slice(g * headDim, headDim);
            var maxAbs = TensorPrimitives.MaxMagnitude(row);
            var scale = maxAbs / 127f;
            scales[g] = scale;
            var inverse = scale == 0 ? 0 : 1 / scale;
            TensorPrimitives.Multiply(row, inverse, scaled);
            TensorPrimitives.Round(scaled, scaled);
            TensorPrimitives.ConvertSaturating<float, sbyte>(scaled, codes.Slice(g * headDim, headDim));
        }
    }

    protected override void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination)
    {
        var groups = tokens * (channels / headDim);
        var scales = MemoryMarshal.Cast<byte, float>(source[..(groups * sizeof(float))]);
        var codes = MemoryMarshal.Cast<byte, sbyte>(source.Slice(groups * sizeof(float), tokens * channels));
        for (var g = 0; g < groups; g++)
        {
            var output = destination.Slice(g * headDim, headDim);
            TensorPrimitives.ConvertChecked<sbyte, float>(codes.Slice(g * headDim, headDim), output);
            TensorPrimitives.Multiply(output, scales[g], output);
        }
    }
}
