namespace ChunkKv.Caching.Format;

/// <summary>Stored cache bytes failed a check (magic, version, length, checksum, fingerprint): treat as a miss, never serve.</summary>
public sealed class CorruptCacheException(string message) : Exception(message);
