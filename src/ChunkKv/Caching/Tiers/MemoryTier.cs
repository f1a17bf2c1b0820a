namespace ChunkKv.Caching.Tiers;

/// <summary>In-process tier: least recently used entries are evicted once the bytes held pass the budget.</summary>
public sealed class MemoryTier(long capacityBytes) : IKvTier
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ChunkCacheKey, LinkedListNode<(ChunkCacheKey Key, byte[] Entry)>> _index = [];
    private readonly LinkedList<(ChunkCacheKey Key, byte[] Entry)> _recency = new();

    public string Name => "memory";
    public long CapacityBytes { get; } = capacityBytes;
    public long BytesHeld { get; private set; }
    public int Count { get { lock (_lock) { return _index.Count; } } }

    public Task<byte[]?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_index.TryGetValue(key, out var node))
            {
                return Task.FromResult<byte[]?>(null);
            }
            _recency.Remove(node);
            _recency.AddFirst(node);
            return Task.FromResult<byte[]?>(node.Value.Entry);
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
            RemoveLocked(key);
            _index[key] = _recency.AddFirst((key, entry));
            BytesHeld += entry.Length;
            while (BytesHeld > CapacityBytes && _recency.Last is { } oldest)
            {
                RemoveLocked(oldest.Value.Key);
            }
        }
        return Task.CompletedTask;
    }

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_index.ContainsKey(key));
        }
    }

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            RemoveLocked(key);
        }
        return Task.CompletedTask;
    }

    private void RemoveLocked(ChunkCacheKey key)
    {
        if (_index.Remove(key, out var node))
        {
            _recency.Remove(node);
            BytesHeld -= node.Value.Entry.Length;
        }
    }
}
