namespace ChunkKv.Caching.Tiers;

/// <summary>
/// One file per key under a folder (fanned out by the key's first two hex digits). A write goes
/// to a unique temporary name, is flushed to the device, then renamed over the final name, so a
/// reader sees a whole old file, a whole new one, or none; a torn file left by a crash fails its
/// checksums in the store and is removed there. The folder holds at most <see cref="CapacityBytes"/>:
/// a write past it evicts the least recently used entries (recency survives a restart through the
/// files' modification times, which a hit refreshes).
/// </summary>
public sealed class DiskTier : IKvTier
{
    /// <summary>The default budget: room for thousands of 512-token chunks of a 0.5B model in f16.</summary>
    public const long DefaultCapacityBytes = 16L << 30;

    private const string Extension = ".ckv";
    private readonly string _root;
    private readonly Lock _lock = new();
    private readonly RecencyIndex _recency;

    public DiskTier(string root, long capacityBytes = DefaultCapacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1);
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
        _recency = new RecencyIndex(capacityBytes);
        LoadExisting();
    }

    public string Name => "disk";

    public long CapacityBytes => _recency.CapacityBytes;

    public long BytesHeld { get { lock (_lock) { return _recency.BytesHeld; } } }

    public string PathOf(ChunkCacheKey key) => Path.Combine(_root, key.Hex[..2], key.Hex + Extension);

    public async Task<TierEntry?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        byte[] entry;
        try
        {
            entry = await File.ReadAllBytesAsync(PathOf(key), cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        List<ChunkCacheKey> evicted = [];
        lock (_lock)
        {
            if (!_recency.Touch(key))
            {
                evicted = _recency.Add(key, entry.Length); // written by another process sharing the folder
            }
        }
        DeleteFiles(evicted);
        TryTouchFile(PathOf(key));
        return new TierEntry(entry);
    }

    public async Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
    {
        if (entry.Length > CapacityBytes)
        {
            throw new IOException($"a {entry.Length}-byte entry is larger than the disk tier's whole capacity ({CapacityBytes} bytes)");
        }
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None,
                bufferSize: 0, FileOptions.Asynchronous))
            {
                await file.WriteAsync(entry, cancellationToken);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // no-op once renamed
        }
        List<ChunkCacheKey> evicted;
        lock (_lock)
        {
            evicted = _recency.Add(key, entry.Length);
        }
        DeleteFiles(evicted);
    }

    private void DeleteFiles(List<ChunkCacheKey> keys)
    {
        foreach (var key in keys)
        {
            DeleteFile(PathOf(key));
        }
    }

    /// <summary>Deletes the file if it is there; its folder may never have been made (File.Delete throws then).</summary>
    private static void DeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Never written: nothing to remove.
        }
    }

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(PathOf(key)));

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        DeleteFile(PathOf(key));
        lock (_lock)
        {
            _recency.Remove(key);
        }
        return Task.CompletedTask;
    }

    /// <summary>Indexes the entries already in the folder, newest first, evicting past the budget; drops temporary files a crash left.</summary>
    private void LoadExisting()
    {
        var files = new DirectoryInfo(_root).EnumerateFiles("*", SearchOption.AllDirectories).ToList();
        foreach (var leftover in files.Where(f => f.Name.EndsWith(".tmp", StringComparison.Ordinal)))
        {
            leftover.Delete();
        }
        // Only names this tier writes (64 hex digits): a stray file in the folder is not an entry.
        var entries = files.Where(f => f.Name.Length == 64 + Extension.Length && f.Name.EndsWith(Extension, StringComparison.Ordinal)
                && f.Name[..64].All(Uri.IsHexDigit))
            .OrderByDescending(f => f.LastWriteTimeUtc).ToList();
        var kept = 0L;
        foreach (var file in entries)
        {
            var key = new ChunkCacheKey(file.Name[..^Extension.Length]);
            if (kept + file.Length > CapacityBytes)
            {
                file.Delete();
                continue;
            }
            kept += file.Length;
            _recency.AddOldest(key, file.Length);
        }
    }

    private static void TryTouchFile(string path)
    {
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Removed or evicted meanwhile: recency is only a hint.
        }
    }
}
