namespace ChunkKv.Caching.Tiers;

/// <summary>In-process tier: least recently used entries are evicted once the bytes held pass the budget.</summary>
public sealed class MemoryTier(long capacityBytes) : IKvTier
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ChunkCacheKey, byte[]> _entries = [];
    private readonly RecencyIndex _recency = new(capacityBytes);

    public string Name => "memory";
    public long CapacityBytes => _recency.CapacityBytes;
    public long BytesHeld { get { lock (_lock) { return _recency.BytesHeld; } } }
    public int Count { get { lock (_lock) { return _entries.Count; } } }

    public Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _recency.Touch(key);
            return Task.FromResult(_entries.TryGetValue(key, out var entry) ? new TierEntry(entry) : null);
        }
    }

    /// <summary>Entries are kept by reference: callers hand over arrays they no longer change.</summary>
    public Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
    {
        if (entry.Length > CapacityBytes)
        {
            return Task.CompletedTask; // would evict everything and still not fit
        }
        lock (_lock)
        {
            _entries[key] = entry;
            foreach (var evicted in _recency.Add(key, entry.Length))
            {
                _entries.Remove(evicted);
            }
        }
        return Task.CompletedTask;
    }

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_entries.ContainsKey(key));
        }
    }

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _entries.Remove(key);
            _recency.Remove(key);
        }
        return Task.CompletedTask;
    }
}
