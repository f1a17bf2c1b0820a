namespace ChunkKv.Caching.Tiers;

/// <summary>
/// One file per key under a folder (fanned out by the key's first two hex digits). A write goes
/// to a unique temporary name, is flushed to the device, then renamed over the final name, so a
/// reader sees a whole old file, a whole new one, or none; a torn file left by a crash fails its
/// checksums in the store and is removed there.
/// </summary>
public sealed class DiskTier : IKvTier
{
    private const string Extension = ".ckv";
    private readonly string _root;

    public DiskTier(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public string Name => "disk";

    public string PathOf(ChunkCacheKey key) => Path.Combine(_root, key.Hex[..2], key.Hex + Extension);

    public async Task<byte[]?> GetAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllBytesAsync(PathOf(key), cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public async Task PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
    {
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
    }

    public Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(PathOf(key)));

    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }
}
