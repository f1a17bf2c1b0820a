using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ChunkKv.Caching.Codecs;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>Where one layer's section lies in a stored entry, and its CRC32C.</summary>
public readonly record struct LayerSection(long Offset, int Length, uint Crc);

/// <summary>
/// The self-describing header of a stored chunk cache (format version 2), all little-endian:
/// <code>
///  0  magic "CKVC"            4  format version u16     6  codec u8        7  key form u8
///  8  layers u16             10  kv heads u16          12  head dim u16   14  codec group size u16
/// 16  tokens u32             20  flags u32, reserved: 0
/// 24  model fingerprint, 32 bytes
/// 56  the key the entry is the cache of (<see cref="ChunkCacheKey"/>), 32 bytes: an entry under another key is refused
/// 88  positions i32[tokens]
///     section table: per layer offset u64, length u32, crc32c u32
///     header crc32c u32, over every byte before it
/// then one section per layer: K then V, coded by the codec; the entry ends where the last section ends.
/// </code>
/// Every byte is covered by a checksum: the header's own or its section's.
/// </summary>
public sealed class ChunkCacheHeader
{
    public const ushort FormatVersion = 2;
    public const int FingerprintBytes = 32;
    public const int KeyBytes = 32;
    private const int FixedBytes = 88;
    private const int SectionEntryBytes = 16;
    private static ReadOnlySpan<byte> Magic => "CKVC"u8;

    public required KvCodecId Codec { get; init; }
    public required int GroupSize { get; init; }
    public required KeyForm KeyForm { get; init; }
    public required int Layers { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required byte[] Fingerprint { get; init; }

    /// <summary>The key the entry was stored under: what it is the cache of.</summary>
    public required byte[] Key { get; init; }
    public required int[] Positions { get; init; }
    /// <summary>Filled in by the writer once the sections are encoded.</summary>
    public LayerSection[] Sections { get; set; } = [];

    public int Tokens => Positions.Length;
    public int RowWidth => KvHeads * HeadDim;

    /// <summary>Bytes the header takes, section table and checksum included.</summary>
    public int Size => FixedBytes + Tokens * 4 + Layers * SectionEntryBytes + 4;

    public void Write(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], FormatVersion);
        destination[6] = (byte)Codec;
        destination[7] = (byte)KeyForm;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], checked((ushort)Layers));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[10..], checked((ushort)KvHeads));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[12..], checked((ushort)HeadDim));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[14..], checked((ushort)GroupSize));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], (uint)Tokens);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], 0);
        Fingerprint.CopyTo(destination[24..]);
        Key.CopyTo(destination[56..]);
        var offset = FixedBytes;
        MemoryMarshal.AsBytes(Positions.AsSpan()).CopyTo(destination[offset..]);
        offset += Tokens * 4;
        foreach (var section in Sections)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination[offset..], section.Offset);
            BinaryPrimitives.WriteInt32LittleEndian(destination[(offset + 8)..], section.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[(offset + 12)..], section.Crc);
            offset += SectionEntryBytes;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination[offset..], Crc32C.Compute(destination[..offset]));
    }

    /// <summary>Bytes of the whole entry: the header and every section.</summary>
    public long EntryLength => Sections.Length == 0 ? Size : Sections[^1].Offset + Sections[^1].Length;

    /// <summary>Reads and checks the header of a whole entry; anything wrong throws <see cref="CorruptCacheException"/>.</summary>
    public static ChunkCacheHeader Read(ReadOnlySpan<byte> entry)
    {
        var header = ReadHeader(entry);
        if (header.EntryLength != entry.Length)
        {
            throw new CorruptCacheException($"entry is {entry.Length} bytes; its sections end at {header.EntryLength}");
        }
        return header;
    }

    /// <summary>
    /// Reads and checks a header alone (what a layered tier hands out before the sections, which may
    /// follow in <paramref name="bytes"/> or not); anything wrong throws <see cref="CorruptCacheException"/>.
    /// </summary>
    public static ChunkCacheHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        var entry = bytes;
        if (entry.Length < FixedBytes + 4 || !entry[..4].SequenceEqual(Magic))
        {
            throw new CorruptCacheException("not a chunk cache entry (bad magic or too short)");
        }
        var version = BinaryPrimitives.ReadUInt16LittleEndian(entry[4..]);
        if (version != FormatVersion)
        {
            throw new CorruptCacheException($"format version {version}; this build reads {FormatVersion}");
        }
        var layers = BinaryPrimitives.ReadUInt16LittleEndian(entry[8..]);
        var tokens = BinaryPrimitives.ReadUInt32LittleEndian(entry[16..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(entry[20..]);
        long size = FixedBytes + tokens * 4L + layers * SectionEntryBytes + 4;
        if (flags != 0)
        {
            throw new CorruptCacheException($"header flags {flags:x}: none are defined");
        }
        if (layers == 0 || size > entry.Length)
        {
            throw new CorruptCacheException($"header claims {layers} layers and {tokens} tokens, more than the {entry.Length} bytes hold");
        }
        var crcOffset = (int)size - 4;
        if (Crc32C.Compute(entry[..crcOffset]) != BinaryPrimitives.ReadUInt32LittleEndian(entry[crcOffset..]))
        {
            throw new CorruptCacheException("header checksum mismatch");
        }

        var offset = FixedBytes;
        var positions = MemoryMarshal.Cast<byte, int>(entry.Slice(offset, (int)tokens * 4)).ToArray();
        offset += (int)tokens * 4;
        var sections = new LayerSection[layers];
        for (var i = 0; i < layers; i++, offset += SectionEntryBytes)
        {
            sections[i] = new LayerSection(
                BinaryPrimitives.ReadInt64LittleEndian(entry[offset..]),
                BinaryPrimitives.ReadInt32LittleEndian(entry[(offset + 8)..]),
                BinaryPrimitives.ReadUInt32LittleEndian(entry[(offset + 12)..]));
        }
        var header = new ChunkCacheHeader
        {
            Codec = (KvCodecId)entry[6],
            KeyForm = (KeyForm)entry[7],
            Layers = layers,
            KvHeads = BinaryPrimitives.ReadUInt16LittleEndian(entry[10..]),
            HeadDim = BinaryPrimitives.ReadUInt16LittleEndian(entry[12..]),
            GroupSize = BinaryPrimitives.ReadUInt16LittleEndian(entry[14..]),
            Fingerprint = entry.Slice(24, FingerprintBytes).ToArray(),
            Key = entry.Slice(56, KeyBytes).ToArray(),
            Positions = positions,
            Sections = sections,
        };
        header.CheckLayout();
        return header;
    }

    /// <summary>Sections follow the header back to back, each as long as the codec says.</summary>
    private void CheckLayout()
    {
        if (!Enum.IsDefined(Codec) || !Enum.IsDefined(KeyForm) || KvHeads == 0 || HeadDim == 0)
        {
            throw new CorruptCacheException($"header names codec {(byte)Codec}, key form {(byte)KeyForm}, {KvHeads} heads of {HeadDim}");
        }
        var codec = KvCodec.Create(Codec, GroupSize);
        var expectedLength = codec.KeyBytes(Tokens, RowWidth, HeadDim) + codec.ValueBytes(Tokens, RowWidth, HeadDim);
        long next = Size;
        foreach (var section in Sections)
        {
            if (section.Offset != next || section.Length != expectedLength)
            {
                throw new CorruptCacheException($"section table inconsistent at offset {section.Offset}");
            }
            next += section.Length;
        }
    }
}
