namespace ChunkKv.Caching.Tiers;

/// <summary>
/// One storage tier of encoded chunk caches. Tiers move bytes only; checking and decoding is the
/// store's job, so every tier is checked the same way. A tier may throw on faults (Redis down);
/// the store then bypasses it for a while.
/// </summary>
public interface IKvTier
{
    /// <summary>"memory", "disk", "redis": used in counters and logs.</summary>
    string Name { get; }

    /// <summary>The entry's bytes, or null when the tier does not hold it; the caller disposes it when done with the bytes.</summary>
    Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the entry; readers see an old entry or the new one, never a mix. A tier may keep an
    /// entry it already holds for the key instead (Redis does: its readers stream an entry's layers).
    /// </summary>
    Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken);

    Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken);

    /// <summary>Whether the tier holds an entry for the key, without reading it (intact or not is checked on read).</summary>
    Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken);
}
