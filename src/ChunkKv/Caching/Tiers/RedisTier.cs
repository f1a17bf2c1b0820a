using StackExchange.Redis;

namespace ChunkKv.Caching.Tiers;

/// <summary>
/// Shared tier in Redis: one string value per chunk entry (a SET is atomic, so a reader never
/// sees half an entry; a chunk's whole cache is one round trip). Optional time to live.
/// </summary>
public sealed class RedisTier(IConnectionMultiplexer redis, string keyPrefix = "chunkkv:kv:", TimeSpan? timeToLive = null) : IKvTier
{
    public string Name => "redis";

    public RedisKey KeyOf(ChunkCacheKey key) => keyPrefix + key.Hex;

    public async Task<byte[]?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        RedisValue value = await redis.GetDatabase().StringGetAsync(KeyOf(key)).WaitAsync(cancellationToken);
        return value.IsNull ? null : (byte[]?)value;
    }

    public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken) =>
        redis.GetDatabase().StringSetAsync(KeyOf(key), entry, timeToLive is { } ttl ? new Expiration(ttl) : Expiration.Default)
            .WaitAsync(cancellationToken);

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyExistsAsync(KeyOf(key)).WaitAsync(cancellationToken);

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken) =>
        redis.GetDatabase().KeyDeleteAsync(KeyOf(key)).WaitAsync(cancellationToken);
}
