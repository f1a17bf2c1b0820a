namespace ChunkKv.Caching.Tiers;

/// <summary>
/// A tier that hands out an entry's header and each layer's section apart (a remote tier, where the
/// whole entry is megabytes on the wire): fusion starts on the first layers while the later ones are
/// still arriving. Whole-entry reads (<see cref="IKvTier.GetAsync"/>) still work and give the same bytes.
/// </summary>
public interface ILayeredKvTier : IKvTier
{
    /// <summary>The entry's header (<see cref="Format.ChunkCacheHeader"/>, its bytes only), or null when the tier does not hold the entry.</summary>
    Task<TierEntry?> GetHeaderAsync(ChunkCacheKey key, CancellationToken cancellationToken);

    /// <summary>Layer <paramref name="layer"/>'s section, or null when the tier no longer holds it (the entry was removed or evicted meanwhile).</summary>
    Task<TierEntry?> GetSectionAsync(ChunkCacheKey key, int layer, CancellationToken cancellationToken);
}
