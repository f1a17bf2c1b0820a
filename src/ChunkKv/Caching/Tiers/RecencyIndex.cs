namespace ChunkKv.Caching.Tiers;

/// <summary>
/// Keys with their sizes in least-recently-used order, under a byte budget: adding past the budget
/// names the oldest keys to evict. Not thread-safe; the owning tier locks around it.
/// </summary>
internal sealed class RecencyIndex(long capacityBytes)
{
    private readonly Dictionary<ChunkCacheKey, LinkedListNode<(ChunkCacheKey Key, long Bytes)>> _nodes = [];
    private readonly LinkedList<(ChunkCacheKey Key, long Bytes)> _order = new(); // most recent first

    public long CapacityBytes { get; } = capacityBytes;
    public long BytesHeld { get; private set; }

    /// <summary>Marks the key as just used; false when it is not held.</summary>
    public bool Touch(ChunkCacheKey key)
    {
        if (!_nodes.TryGetValue(key, out var node))
        {
            return false;
        }
        _order.Remove(node);
        _order.AddFirst(node);
        return true;
    }

    /// <summary>Records the key (replacing an older size) as the most recent; returns the keys evicted to stay within the budget, oldest first.</summary>
    public List<ChunkCacheKey> Add(ChunkCacheKey key, long bytes)
    {
        Remove(key);
        _nodes[key] = _order.AddFirst((key, bytes));
        BytesHeld += bytes;
        var evicted = new List<ChunkCacheKey>();
        while (BytesHeld > CapacityBytes && _order.Last is { } oldest && oldest.Value.Key != key)
        {
            evicted.Add(oldest.Value.Key);
            Remove(oldest.Value.Key);
        }
        return evicted;
    }

    /// <summary>Records a key found on start-up as older than every key seen so far (callers add newest first).</summary>
    public void AddOldest(ChunkCacheKey key, long bytes)
    {
        if (!_nodes.ContainsKey(key))
        {
            _nodes[key] = _order.AddLast((key, bytes));
            BytesHeld += bytes;
        }
    }

    public void Remove(ChunkCacheKey key)
    {
        if (_nodes.Remove(key, out var node))
        {
            _order.Remove(node);
            BytesHeld -= node.Value.Bytes;
        }
    }
}
