namespace ChunkKv.Caching.Codecs;

/// <summary>The codecs of the stored cache format; the numbers are written into it and never change.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "The codecs are named after their number formats.")]
public enum KvCodecId : byte
{
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    Int8 = 3,
    Int4 = 4,
    Int2 = 5,
}

/// <summary>
/// Encodes one layer's K or V, a row-major <c>[tokens, channels]</c> matrix (channels = kvHeads *
/// headDim), to bytes and back. Keys and values may be coded differently (KIVI quantizes keys per
/// channel and values per token), so each has its own pair of methods.
/// </summary>
public abstract class KvCodec
{
    public abstract KvCodecId Id { get; }

    /// <summary>The group size written into the format (quantizing codecs); 0 for the others.</summary>
    public virtual int GroupSize => 0;

    public abstract int KeyBytes(int tokens, int channels, int headDim);
    public abstract int ValueBytes(int tokens, int channels, int headDim);

    public abstract void EncodeKeys(ReadOnlySpan<float> keys, int tokens, int channels, int headDim, Span<byte> destination);
    public abstract void DecodeKeys(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> keys);
    public abstract void EncodeValues(ReadOnlySpan<float> values, int tokens, int channels, int headDim, Span<byte> destination);
    public abstract void DecodeValues(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> values);

    public override string ToString() => Name(Id);

    public static string Name(KvCodecId id) => id.ToString().ToLowerInvariant();

    /// <summary>Default group size of the KIVI codecs: 64 tokens per key group, 64 channels per value group.</summary>
    public const int DefaultKiviGroup = 64;

    /// <summary>The codec for an id; <paramref name="groupSize"/> matters to int4 and int2 only (0: default).</summary>
    public static KvCodec Create(KvCodecId id, int groupSize = 0) => id switch
    {
        KvCodecId.F32 => new Float32Codec(),
        KvCodecId.F16 => new Float16Codec(),
        KvCodecId.BF16 => new BFloat16Codec(),
        KvCodecId.Int8 => new Int8Codec(),
        KvCodecId.Int4 => new KiviCodec(4, groupSize == 0 ? DefaultKiviGroup : groupSize),
        KvCodecId.Int2 => new KiviCodec(2, groupSize == 0 ? DefaultKiviGroup : groupSize),
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "unknown KV codec"),
    };

    /// <summary>Parses "f32", "f16", "bf16", "int8", "int4", "int2" (case-insensitive).</summary>
    /// <exception cref="FormatException">Not a codec's name; the message lists them.</exception>
    public static KvCodecId ParseId(string name) =>
        Enum.TryParse<KvCodecId>(name, ignoreCase: true, out var id) && Enum.IsDefined(id) && !int.TryParse(name, out _)
            ? id
            : throw new FormatException($"unknown codec '{name}'; expected one of {string.Join(", ", Enum.GetValues<KvCodecId>().Select(Name))}");
}

/// <summary>Codecs that treat K and V alike, element by element or per (token, head).</summary>
public abstract class SymmetricKvCodec : KvCodec
{
    protected abstract int Bytes(int tokens, int channels, int headDim);
    protected abstract void Encode(ReadOnlySpan<float> source, int tokens, int channels, int headDim, Span<byte> destination);
    protected abstract void Decode(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> destination);

    public sealed override int KeyBytes(int tokens, int channels, int headDim) => Bytes(tokens, channels, headDim);
    public sealed override int ValueBytes(int tokens, int channels, int headDim) => Bytes(tokens, channels, headDim);

    public sealed override void EncodeKeys(ReadOnlySpan<float> keys, int tokens, int channels, int headDim, Span<byte> destination) =>
        Encode(keys, tokens, channels, headDim, destination);
    public sealed override void DecodeKeys(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> keys) =>
        Decode(source, tokens, channels, headDim, keys);
    public sealed override void EncodeValues(ReadOnlySpan<float> values, int tokens, int channels, int headDim, Span<byte> destination) =>
        Encode(values, tokens, channels, headDim, destination);
    public sealed override void DecodeValues(ReadOnlySpan<byte> source, int tokens, int channels, int headDim, Span<float> values) =>
        Decode(source, tokens, channels, headDim, values);
}
