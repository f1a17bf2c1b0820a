using StackExchange.Redis;

namespace ChunkKv.Caching.Tiers;

/// <summary>
/// Shared tier in Redis: one string value per chunk entry (a SET is atomic, so a reader never
/// sees half an entry; a chunk's whole cache is one round trip). Optional time to live. A GET
/// reads into a pooled lease that the store decodes from in place: for 6 MB values that is
/// 1.1–1.3× StackExchange.Redis 3's plain byte[] GET, and 1.3× a lease copied into an array.
/// On a Redis Cluster it runs unchanged: one key an entry, so an entry lives whole on one master
/// (RedisClusterTests: three masters, one killed mid-run).
/// </summary>
public sealed class RedisTier(IConnectionMultiplexer redis, string keyPrefix = "chunkkv:kv:", TimeSpan? timeToLive = null) : IKvTier
{
    public string Name => "redis";

    public RedisKey KeyOf(ChunkCacheKey key) => keyPrefix + key.Hex;

    public async Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        var lease = await redis.GetDatabase().StringGetLeaseAsync(KeyOf(key)).WaitAsync(cancellationToken);
        return lease is null ? null : new TierEntry(lease.Memory, lease);
    }

    public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken) =>
        redis.GetDatabase().StringSetAsync(KeyOf(key), entry, timeToLive is { } ttl ? new Expiration(ttl) : Expiration.Default)
            .WaitAsync(cancellationToken);

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyExistsAsync(KeyOf(key)).WaitAsync(cancellationToken);

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyDeleteAsync(KeyOf(key)).WaitAsync(cancellationToken);
}
