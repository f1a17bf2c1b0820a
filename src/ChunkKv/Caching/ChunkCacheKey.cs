using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Inference.Models;

namespace ChunkKv.Caching;

/// <summary>
/// Content address of a chunk's stored cache: SHA-256 over the model fingerprint, the format
/// version, the version of the engine code that computes K/V (<see cref="Transformer.KvComputeVersion"/>),
/// the codec and its group size, the chunk's token ids, and the tokens of the prefix it was computed
/// after (<c>context</c>; <see cref="Collections.ChunkCaches"/> makes every key). A changed model,
/// engine, codec, format or prefix can never hit an old entry.
/// </summary>
public readonly record struct ChunkCacheKey(string Hex)
{
    public static ChunkCacheKey Compute(ReadOnlySpan<byte> modelFingerprint, KvCodec codec, ReadOnlySpan<int> tokenIds,
        ReadOnlySpan<byte> context = default, int kvComputeVersion = Transformer.KvComputeVersion)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("chunkkv.kv"u8);
        Append(hash, [ChunkCacheHeader.FormatVersion, kvComputeVersion, (int)codec.Id, codec.GroupSize, modelFingerprint.Length]);
        hash.AppendData(modelFingerprint);
        Append(hash, [tokenIds.Length]);
        hash.AppendData(MemoryMarshal.AsBytes(tokenIds));
        Append(hash, [context.Length]);
        hash.AppendData(context);
        return new ChunkCacheKey(Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>The key from its 32 bytes, as the chunk index stores it.</summary>
    public static ChunkCacheKey FromBytes(ReadOnlySpan<byte> bytes) => new(Convert.ToHexStringLower(bytes));

    public byte[] ToBytes() => Convert.FromHexString(Hex);

    private static void Append(IncrementalHash hash, ReadOnlySpan<int> values) => hash.AppendData(MemoryMarshal.AsBytes(values));

    public override string ToString() => Hex;
}
