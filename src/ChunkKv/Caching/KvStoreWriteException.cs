namespace ChunkKv.Caching;

/// <summary>A chunk cache could not be written to any tier: nothing holds it, so nothing may claim it is stored.</summary>
public sealed class KvStoreWriteException(string message) : Exception(message);
