namespace ChunkKv.Caching.Format;

/// <summary>
/// A layer of a streamed entry failed its checksum or never arrived, after fusion had started on the
/// layers before it. The store has already dropped the entry from its tier: fusing the prompt again
/// computes that chunk and stores it afresh (<see cref="Collections.CollectionContext.FuseAsync"/>);
/// nothing of the lost entry is served.
/// </summary>
public sealed class StoredLayerLostException(ChunkCacheKey key, int layer, string reason, Task dropped)
    : Exception($"chunk cache {key}, layer {layer}: {reason}")
{
    public ChunkCacheKey Key { get; } = key;
    public int Layer { get; } = layer;

    /// <summary>Completes once the entry is gone from its tier (at once when the tier is down): load again only after it.</summary>
    public Task Dropped { get; } = dropped;
}
