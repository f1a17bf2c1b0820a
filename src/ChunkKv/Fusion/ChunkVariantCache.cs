using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Fusion;

/// <summary>
/// Cache-Craft's variants: the fused K/V of a chunk as it came out of a fusion that followed a given
/// prefix and set of preceding chunks (at the positions they put it). When the same chunks precede
/// it again, the variant is used as it is and none of the chunk's rows are recomputed. Held in memory
/// up to a byte budget; when over it, the variant with the least expected savings × uses goes first.
/// </summary>
public sealed class ChunkVariantCache(long capacityBytes = 256L << 20)
{
    private readonly Lock sync = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private long bytes;

    private sealed class Entry(KvCache cache, int savedRows)
    {
        public KvCache Cache { get; } = cache;
        public int SavedRows { get; } = savedRows;
        public long Uses { get; set; } = 1;
        public long Bytes => 2L * Cache.Layers * Cache.Tokens * Cache.RowWidth * sizeof(float);
        public double Worth => (double)SavedRows * Uses;
    }

    public long CapacityBytes => capacityBytes;

    public int Count
    {
        get
        {
            lock (sync)
            {
                return entries.Count;
            }
        }
    }

    /// <summary>The key of chunk <paramref name="chunk"/> of the prompt under a method: its tokens and all that precede it.</summary>
    public static string KeyOf(FusionPrompt prompt, int chunk, FusionMethod method)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(method.Name));
        void Add(int[] tokens)
        {
            hash.AppendData(BitConverter.GetBytes(tokens.Length));
            hash.AppendData(MemoryMarshal.AsBytes(tokens.AsSpan()));
        }
        Add(prompt.Prefix);
        for (var i = 0; i <= chunk; i++)
        {
            Add(prompt.Chunks[i]);
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    public KvCache? Find(string key)
    {
        lock (sync)
        {
            if (!entries.TryGetValue(key, out var entry))
            {
                return null;
            }
            entry.Uses++;
            return entry.Cache;
        }
    }

    /// <param name="savedRows">The chunk's rows this fusion recomputed: what using the variant saves next time.</param>
    public void Add(string key, KvCache variant, int savedRows)
    {
        var entry = new Entry(variant, savedRows);
        if (entry.Bytes > capacityBytes)
        {
            return;
        }
        lock (sync)
        {
            if (entries.Remove(key, out var old))
            {
                bytes -= old.Bytes;
            }
            entries[key] = entry;
            bytes += entry.Bytes;
            while (bytes > capacityBytes)
            {
                var (evictKey, evict) = entries.Where(e => e.Key != key).MinBy(e => e.Value.Worth);
                entries.Remove(evictKey);
                bytes -= evict.Bytes;
            }
        }
    }
}
