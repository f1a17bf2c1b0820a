using System.Buffers;
using ChunkKv.Caching.Format;
using StackExchange.Redis;

namespace ChunkKv.Caching.Tiers;

/// <summary>
/// Shared tier in Redis: one hash per chunk entry, its header in field <c>h</c> and layer ℓ's section
/// in field <c>ℓ</c>, so a reader fetches the header, then the layers in the order fusion uses them,
/// and starts on layer 0 while the rest are on the wire (<see cref="ILayeredKvTier"/>). One key an
/// entry: it is written whole in one MULTI, only where no entry is (so a reader streaming its fields
/// never meets another writer's; two writers of a key hold the same chunk's cache), removed
/// by one DEL, expires as a whole, and on a Redis Cluster lives whole on one master (RedisClusterTests:
/// three masters, one killed mid-run). Reads go into pooled leases that the store decodes from in place.
/// </summary>
/// <remarks>
/// Entries were single string values before (under <c>{prefix}{hex}</c>); the hashes live under
/// <c>{prefix}l:{hex}</c>, so an old value is never read as a hash (which Redis refuses with WRONGTYPE):
/// it is a miss, recomputed once, and goes with its time to live.
/// </remarks>
public sealed class RedisTier(IConnectionMultiplexer redis, string keyPrefix = "chunkkv:kv:", TimeSpan? timeToLive = null) : ILayeredKvTier
{
    private static readonly RedisValue HeaderField = "h";

    public string Name => "redis";

    public RedisKey KeyOf(ChunkCacheKey key) => keyPrefix + "l:" + key.Hex;

    /// <summary>The hash field holding layer <paramref name="layer"/>'s section.</summary>
    public static RedisValue FieldOf(int layer) => layer;

    public async Task<TierEntry?> GetHeaderAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        Entry(await redis.GetDatabase().HashGetLeaseAsync(KeyOf(key), HeaderField).WaitAsync(cancellationToken));

    public async Task<TierEntry?> GetSectionAsync(ChunkCacheKey key, int layer, CancellationToken cancellationToken) =>
        Entry(await redis.GetDatabase().HashGetLeaseAsync(KeyOf(key), FieldOf(layer)).WaitAsync(cancellationToken));

    /// <summary>
    /// The whole entry, assembled from its fields into one pooled buffer. A header that does not read
    /// comes back alone, so the store's check refuses it and removes the entry; a lost section makes it a miss.
    /// </summary>
    public async Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        using var header = await GetHeaderAsync(key, cancellationToken);
        if (header is null)
        {
            return null;
        }
        ChunkCacheHeader layout;
        try
        {
            layout = ChunkCacheHeader.ReadHeader(header.Bytes.Span);
        }
        catch (CorruptCacheException)
        {
            return new TierEntry(header.ToArray());
        }
        var sections = await Task.WhenAll(Enumerable.Range(0, layout.Layers).Select(layer => GetSectionAsync(key, layer, cancellationToken)));
        try
        {
            if (sections.Any(s => s is null) || layout.EntryLength > int.MaxValue)
            {
                return null;
            }
            var buffer = ArrayPool<byte>.Shared.Rent((int)layout.EntryLength);
            header.Bytes.Span.CopyTo(buffer);
            var offset = header.Length;
            foreach (var section in sections)
            {
                section!.Bytes.Span.CopyTo(buffer.AsSpan(offset));
                offset += section.Length;
            }
            return new TierEntry(buffer.AsMemory(0, offset), new ReturnToPool(buffer));
        }
        finally
        {
            foreach (var section in sections)
            {
                section?.Dispose();
            }
        }
    }

    public async Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
    {
        var layout = ChunkCacheHeader.Read(entry); // the store has checked it; this only cuts it into its fields
        var fields = new HashEntry[layout.Layers + 1];
        fields[0] = new HashEntry(HeaderField, entry.AsMemory(0, layout.Size));
        for (var layer = 0; layer < layout.Layers; layer++)
        {
            var section = layout.Sections[layer];
            fields[layer + 1] = new HashEntry(FieldOf(layer), entry.AsMemory((int)section.Offset, section.Length));
        }
        var redisKey = KeyOf(key);
        var transaction = redis.GetDatabase().CreateTransaction();
        // An entry already there stays: its key names its content, and replacing its fields under a
        // reader streaming them would tear it (a corrupt one is removed by the store before it is written again).
        transaction.AddCondition(Condition.KeyNotExists(redisKey));
        var queued = new List<Task> { transaction.HashSetAsync(redisKey, fields) };
        if (timeToLive is { } ttl)
        {
            queued.Add(transaction.KeyExpireAsync(redisKey, ttl));
        }
        if (await transaction.ExecuteAsync().WaitAsync(cancellationToken))
        {
            await Task.WhenAll(queued).WaitAsync(cancellationToken);
        }
    }

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyExistsAsync(KeyOf(key)).WaitAsync(cancellationToken);

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyDeleteAsync(KeyOf(key)).WaitAsync(cancellationToken);

    private static TierEntry? Entry(Lease<byte>? lease) => lease is null ? null : new TierEntry(lease.Memory, lease);

    private sealed class ReturnToPool(byte[] buffer) : IDisposable
    {
        public void Dispose() => ArrayPool<byte>.Shared.Return(buffer);
    }
}
