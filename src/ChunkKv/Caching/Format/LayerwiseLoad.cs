using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>
/// An entry being checked and decoded layer by layer, all layers in parallel, lowest first:
/// <see cref="LayerReady"/> completes as soon as that layer can be used, so the fusion code can
/// start on layer 0 while later layers are still decoding. A layer that fails its checksum faults
/// its task with <see cref="CorruptCacheException"/>.
/// </summary>
public sealed class LayerwiseLoad
{
    private readonly Task[] _layers;

    private LayerwiseLoad(ChunkCacheHeader header, KvCache kv, Task[] layers)
    {
        Header = header;
        Kv = kv;
        _layers = layers;
        Completion = Task.WhenAll(layers);
    }

    public ChunkCacheHeader Header { get; }

    /// <summary>The cache the layers decode into; a layer's arrays are valid once its task completes.</summary>
    public KvCache Kv { get; }

    public Task Completion { get; }

    public Task LayerReady(int layer) => _layers[layer];

    /// <summary>The whole chunk, once <see cref="Completion"/> succeeded.</summary>
    public CachedChunk Result => new(Kv, Header.Codec, Header.Fingerprint, Header.OutsideAttention);

    /// <summary>Checks the header and fingerprint now (throwing <see cref="CorruptCacheException"/>), then decodes in the background.</summary>
    /// <remarks><paramref name="entry"/> must stay valid until <see cref="Completion"/>.</remarks>
    public static LayerwiseLoad Start(ReadOnlyMemory<byte> entry, ReadOnlySpan<byte> expectedFingerprint)
    {
        var (header, codec, kv) = ChunkCacheCodec.Open(entry.Span, expectedFingerprint);
        var layers = new Task[header.Layers];
        for (var layer = 0; layer < layers.Length; layer++)
        {
            var index = layer;
            layers[layer] = Task.Run(() => ChunkCacheCodec.DecodeLayer(entry.Span, header, codec, kv, index));
        }
        return new LayerwiseLoad(header, kv, layers);
    }
}
