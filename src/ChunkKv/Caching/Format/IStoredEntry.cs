using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>
/// A chunk cache the store found, not yet decoded: fusion decodes its layers straight into the
/// fused sequence's slots (<see cref="IKvLayerSource.WriteLayer"/>). Every byte is checked before it
/// is decoded: a whole entry (<see cref="CheckedEntry"/>) when it is found, an entry streamed layer
/// by layer (<see cref="StreamedEntry"/>) one section as it arrives. Dispose it once fusion is done:
/// that hands the tier's buffers back and lets the store promote the entry into the faster tiers.
/// </summary>
public interface IStoredEntry : IKvLayerSource, IDisposable
{
    int Tokens { get; }

    /// <summary>The whole chunk decoded into a cache of its own.</summary>
    /// <exception cref="StoredLayerLostException">A streamed layer failed its check or did not arrive.</exception>
    CachedChunk Decode();
}
