using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Caching.Format;

/// <summary>
/// An entry from a layered tier (<see cref="ILayeredKvTier"/>): its header has passed every check
/// (magic, version, checksum, fingerprint, key) and its layers arrive one by one, in the order the
/// store requested them (<see cref="KvStore.StreamLayers"/>: layer 0 of every chunk first). Fusion
/// decodes layer ℓ as soon as its section is in and has passed its CRC32C, while later layers are
/// still on the wire. A section that fails its check or never arrives throws
/// <see cref="StoredLayerLostException"/> where fusion asks for it, after the store has been told to
/// drop the entry: it is computed again, never served.
/// </summary>
public sealed class StreamedEntry : IStoredEntry
{
    /// <summary>What the store does for a streamed entry: fetch a section, drop a lost entry, promote a whole one.</summary>
    internal interface IOwner
    {
        /// <summary>Layer <paramref name="layer"/>'s section, or null when it did not come (a fault, a timeout, or gone from the tier).</summary>
        Task<TierEntry?> FetchAsync(ChunkCacheKey key, int layer, TimeSpan timeout);

        /// <summary>A section failed its check (<paramref name="corrupt"/>) or did not come: the tier's entry must go; the task is its removal.</summary>
        Task Lost(ChunkCacheKey key, string reason, bool corrupt);

        /// <summary>Whether a faster tier would take the whole entry (else there is nothing to promote it into).</summary>
        bool Promotes { get; }

        /// <summary>Every layer is on its way: <paramref name="bytes"/> makes the whole entry to copy into the faster tiers (null when a section failed).</summary>
        void Completed(ChunkCacheKey key, Func<byte[]?> bytes);
    }

    private readonly ChunkCacheKey key;
    private readonly TierEntry headerBytes;
    private readonly ChunkCacheHeader header;
    private readonly KvCodec codec;
    private readonly IOwner owner;
    private readonly TimeSpan defaultTimeout;
    private readonly Task<TierEntry?>?[] sections;
    private readonly bool[] verified;
    private int lost;
    private Task dropped = Task.CompletedTask;
    private int disposed;

    /// <param name="headerBytes">The header's bytes (owned from here on); <paramref name="header"/> is what they read as.</param>
    /// <param name="defaultTimeout">For a layer fusion asks for before the store requested it.</param>
    internal StreamedEntry(ChunkCacheKey key, TierEntry headerBytes, ChunkCacheHeader header, IOwner owner, TimeSpan defaultTimeout)
    {
        this.key = key;
        this.headerBytes = headerBytes;
        this.header = header;
        this.owner = owner;
        this.defaultTimeout = defaultTimeout;
        codec = KvCodec.Create(header.Codec, header.GroupSize);
        sections = new Task<TierEntry?>?[header.Layers];
        verified = new bool[header.Layers];
    }

    public int Layers => header.Layers;
    public int KvHeads => header.KvHeads;
    public int HeadDim => header.HeadDim;
    public int Tokens => header.Positions.Length;
    public int[] Positions => header.Positions;
    public KeyForm KeyForm => header.KeyForm;

    /// <summary>Bytes of the whole entry, header and sections.</summary>
    public long Length => header.EntryLength;

    /// <summary>Starts fetching layer <paramref name="layer"/>'s section unless it is already on its way.</summary>
    public Task<TierEntry?> Request(int layer, TimeSpan timeout)
    {
        lock (sections)
        {
            return sections[layer] ??= owner.FetchAsync(key, layer, timeout);
        }
    }

    /// <summary>Waits for the layer's section, checks it and decodes it into the spans.</summary>
    /// <exception cref="StoredLayerLostException">The section failed its checksum or did not arrive.</exception>
    public void WriteLayer(int layer, Span<float> keys, Span<float> values)
    {
        var section = Request(layer, defaultTimeout).GetAwaiter().GetResult();
        var expected = header.Sections[layer];
        if (section is null)
        {
            throw Lose(layer, "the section did not arrive", corrupt: false);
        }
        if (section.Length != expected.Length || Crc32C.Compute(section.Bytes.Span) != expected.Crc)
        {
            throw Lose(layer, "section checksum mismatch", corrupt: true);
        }
        CheckedEntry.DecodeSection(header, codec, section.Bytes.Span, keys, values);
        Volatile.Write(ref verified[layer], true);
    }

    public CachedChunk Decode()
    {
        var kv = KvCache.Uninitialized(Layers, KvHeads, HeadDim, Positions, KeyForm);
        for (var layer = 0; layer < Layers; layer++)
        {
            Request(layer, defaultTimeout);
        }
        for (var layer = 0; layer < Layers; layer++)
        {
            WriteLayer(layer, kv.Keys[layer], kv.Values[layer]);
        }
        return new CachedChunk(kv, header.Codec, header.Fingerprint);
    }

    /// <summary>
    /// Hands the sections back (those still on the wire as they land). When every layer was requested
    /// and nothing was lost, the store is first given the whole entry to promote: off the query's
    /// path it waits for the sections, checks those fusion did not decode, copies them into one
    /// array and releases them (a section that fails there drops the entry, as during fusion).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }
        bool everyLayerRequested;
        lock (sections)
        {
            everyLayerRequested = sections.All(s => s is not null);
        }
        if (Volatile.Read(ref lost) != 0 || !everyLayerRequested || !owner.Promotes)
        {
            Release();
            return;
        }
        owner.Completed(key, () =>
        {
            try
            {
                return Assemble();
            }
            finally
            {
                Release();
            }
        });
    }

    /// <summary>The whole entry, once every section has arrived and passed its check; null when one did not.</summary>
    private byte[]? Assemble()
    {
        var whole = GC.AllocateUninitializedArray<byte>(checked((int)Length));
        headerBytes.Bytes.Span.CopyTo(whole);
        for (var layer = 0; layer < Layers; layer++)
        {
            var section = sections[layer]!.GetAwaiter().GetResult();
            var expected = header.Sections[layer];
            if (section is null)
            {
                Lose(layer, "the section did not arrive", corrupt: false);
                return null;
            }
            if (!Volatile.Read(ref verified[layer])
                && (section.Length != expected.Length || Crc32C.Compute(section.Bytes.Span) != expected.Crc))
            {
                Lose(layer, "section checksum mismatch", corrupt: true);
                return null;
            }
            section.Bytes.Span.CopyTo(whole.AsSpan((int)expected.Offset));
        }
        return whole;
    }

    private void Release()
    {
        headerBytes.Dispose();
        Task<TierEntry?>?[] requested;
        lock (sections)
        {
            requested = sections.ToArray();
        }
        foreach (var section in requested)
        {
            section?.ContinueWith(done => (done.IsCompletedSuccessfully ? done.Result : null)?.Dispose(), TaskScheduler.Default);
        }
    }

    private StoredLayerLostException Lose(int layer, string reason, bool corrupt)
    {
        lock (sections)
        {
            if (Interlocked.Exchange(ref lost, 1) == 0)
            {
                dropped = owner.Lost(key, $"layer {layer}: {reason}", corrupt);
            }
            return new StoredLayerLostException(key, layer, reason, dropped);
        }
    }
}
