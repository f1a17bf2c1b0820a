using System.Collections.Concurrent;
using System.Diagnostics;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Caching.Tiers;
using ChunkKv.Inference.Kv;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ChunkKv.Caching;

/// <summary>
/// The chunk cache store: an ordered list of tiers (fastest first, e.g. memory ▸ disk ▸ Redis).
/// Reads look the tiers up in order, check every byte (header and per-layer CRC32C, fingerprint)
/// and promote a hit into the faster tiers; an entry that fails a check is a miss, is logged and
/// removed from that tier, and is never served. Writes go through to every tier; a write that
/// reaches no tier throws <see cref="KvStoreWriteException"/>, never reports success. Promotion runs
/// in the background, so a hit in a slow tier is returned without waiting for a faster tier's write
/// (a disk fsync). A tier that throws or times out is bypassed for a back-off period instead of
/// failing the caller. A layered tier (Redis) hands out a hit's header first and its layers as
/// fusion needs them (<see cref="StreamedEntry"/>, <see cref="StreamLayers"/>).
/// </summary>
public sealed class KvStore
{
    private readonly IKvTier[] _tiers;
    private readonly TierState[] _states;
    private readonly KvStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Task, bool> _promotions = new();

    public KvStore(IEnumerable<IKvTier> tiers, KvStoreOptions? options = null, ILogger<KvStore>? logger = null,
        TimeProvider? time = null)
    {
        _tiers = tiers.ToArray();
        _states = _tiers.Select(t => new TierState(t.Name)).ToArray();
        _options = options ?? new KvStoreOptions();
        _logger = logger ?? NullLogger<KvStore>.Instance;
        _time = time ?? TimeProvider.System;
    }

    public IReadOnlyList<IKvTier> Tiers => _tiers;

    public IReadOnlyList<TierStatistics> Statistics => _states.Select(s => s.Snapshot(_time.GetUtcNow())).ToArray();

    /// <summary>Encodes the chunk's cache with <paramref name="codec"/> and writes it to every tier; returns the entry.</summary>
    public async Task<byte[]> PutAsync(ChunkCacheKey key, KvCache kv, KvCodec codec, ReadOnlyMemory<byte> fingerprint,
        CancellationToken cancellationToken = default)
    {
        var entry = ChunkCacheCodec.Encode(kv, codec, fingerprint.Span, key);
        await PutAsync(key, entry, cancellationToken);
        return entry;
    }

    /// <summary>Writes an encoded entry to every tier that is not bypassed, in parallel; returns how many tiers hold it.</summary>
    /// <exception cref="KvStoreWriteException">No tier took the entry (all bypassed or all failed).</exception>
    /// <exception cref="ArgumentException">The entry names another key than <paramref name="key"/>: it would be refused on every read.</exception>
    public async Task<int> PutAsync(ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!ChunkCacheHeader.Read(entry).Key.AsSpan().SequenceEqual(key.ToBytes()))
        {
            throw new ArgumentException($"the entry is the cache of another key than {key}", nameof(entry));
        }
        var written = await Task.WhenAll(Enumerable.Range(0, _tiers.Length).Select(i => PutToTierAsync(i, key, entry, cancellationToken)));
        var count = written.Count(w => w);
        if (count == 0)
        {
            throw new KvStoreWriteException(
                $"chunk cache {key} was written to no tier ({string.Join(", ", _tiers.Select(t => t.Name))}): each was down or failed");
        }
        return count;
    }

    /// <summary>Waits for the promotions and removals started in the background so far (tests, and a clean shutdown).</summary>
    public Task FlushPromotionsAsync() => Task.WhenAll(_promotions.Keys);

    /// <summary>The whole chunk, checked and decoded; null on a miss in every tier.</summary>
    public async Task<CachedChunk?> GetAsync(ChunkCacheKey key, ReadOnlyMemory<byte> fingerprint, CancellationToken cancellationToken = default)
    {
        using var entry = await GetCheckedAsync(key, fingerprint, cancellationToken);
        try
        {
            return entry?.Decode();
        }
        catch (StoredLayerLostException)
        {
            return null; // dropped from its tier already; the caller computes it as a miss
        }
    }

    /// <summary>
    /// The chunk found and checked but not decoded, reading the tier's bytes in place: the caller
    /// decodes its layers where it needs them and disposes it when done, which releases the tier's
    /// buffers and starts the promotion into the faster tiers. A whole entry (memory, disk) is checked
    /// at once: header, fingerprint, key, every layer's checksum; one from a layered tier (Redis) has
    /// its header checked here and each layer as it arrives (<see cref="StreamedEntry"/>; call
    /// <see cref="StreamLayers"/> once a prompt's entries are found). An entry that fails a check here
    /// is removed from its tier and the next tier is tried; null on a miss in every tier.
    /// </summary>
    public async Task<IStoredEntry?> GetCheckedAsync(ChunkCacheKey key, ReadOnlyMemory<byte> fingerprint,
        CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < _tiers.Length; i++)
        {
            if (_tiers[i] is ILayeredKvTier)
            {
                if (await OpenStreamedAsync(i, key, fingerprint, cancellationToken) is { } streamed)
                {
                    return streamed;
                }
                continue;
            }
            var entry = await GetFromTierAsync(i, key, cancellationToken);
            if (entry is null)
            {
                continue;
            }
            try
            {
                var tier = i;
                return CheckedEntry.Check(entry.Bytes, fingerprint.Span, key, () => Promote(tier, key, entry));
            }
            catch (CorruptCacheException e)
            {
                entry.Dispose();
                await DiscardAsync(i, key, e.Message, cancellationToken);
            }
        }
        return null;
    }

    /// <summary>
    /// Requests the layers of the streamed entries among <paramref name="entries"/> (the others are
    /// whole already), layer 0 of each entry first, then layer 1, and so on: fusion uses every chunk's
    /// layer ℓ before any chunk's layer ℓ+1, so that is the order it wants them off the wire. Each
    /// request may take as long as the whole batch's bytes take at the slowest rate allowed.
    /// </summary>
    public void StreamLayers(IEnumerable<IStoredEntry?> entries)
    {
        var streamed = entries.OfType<StreamedEntry>().ToList();
        if (streamed.Count == 0)
        {
            return;
        }
        var timeout = _options.TimeoutFor(streamed.Sum(e => e.Length));
        for (var layer = 0; layer < streamed.Max(e => e.Layers); layer++)
        {
            foreach (var entry in streamed.Where(e => layer < e.Layers))
            {
                entry.Request(layer, timeout);
            }
        }
    }

    /// <summary>Whether any tier that is up holds an entry for the key (ingestion skips computing it again).</summary>
    public async Task<bool> ContainsAsync(ChunkCacheKey key, CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < _tiers.Length; i++)
        {
            var tier = _tiers[i];
            if (!_states[i].IsBypassed(_time.GetUtcNow())
                && await GuardAsync(i, "contains", () => tier.ContainsAsync(key, cancellationToken), cancellationToken))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Removes the entry from every tier that is up (its chunk is gone from the index).</summary>
    public Task RemoveAsync(ChunkCacheKey key, CancellationToken cancellationToken = default) =>
        Task.WhenAll(Enumerable.Range(0, _tiers.Length).Where(i => !_states[i].IsBypassed(_time.GetUtcNow()))
            .Select(i => RemoveFromTierAsync(i, key, cancellationToken)));

    /// <summary>A layered tier's entry with its header checked, its layers not yet requested; null on a miss or a header that fails its checks (then removed).</summary>
    private async Task<StreamedEntry?> OpenStreamedAsync(int tier, ChunkCacheKey key, ReadOnlyMemory<byte> fingerprint,
        CancellationToken cancellationToken)
    {
        if (_states[tier].IsBypassed(_time.GetUtcNow()))
        {
            return null;
        }
        var clock = Stopwatch.StartNew();
        var layered = (ILayeredKvTier)_tiers[tier];
        var headerBytes = await GuardAsync(tier, "get", () => layered.GetHeaderAsync(key, cancellationToken), cancellationToken);
        if (headerBytes is null)
        {
            _states[tier].Miss(clock.Elapsed);
            return null;
        }
        try
        {
            var header = ChunkCacheHeader.ReadHeader(headerBytes.Bytes.Span);
            CheckedEntry.CheckNames(header, fingerprint.Span, key);
            _states[tier].Hit(header.EntryLength, clock.Elapsed);
            return new StreamedEntry(key, headerBytes, header, new LayerFetcher(this, tier), _options.TimeoutFor(header.EntryLength));
        }
        catch (CorruptCacheException e)
        {
            headerBytes.Dispose();
            await DiscardAsync(tier, key, e.Message, cancellationToken);
            return null;
        }
    }

    /// <summary>What one streamed entry of a layered tier asks the store for.</summary>
    private sealed class LayerFetcher(KvStore store, int tier) : StreamedEntry.IOwner
    {
        private int failed;

        /// <summary>
        /// The section under the timeout; a fault or timeout yields null. An entry's layers are
        /// requested together, so when one fails the rest are as late: the tier's fault is counted
        /// once an entry, not once a layer (each fault in a row doubles the bypass).
        /// </summary>
        public Task<TierEntry?> FetchAsync(ChunkCacheKey key, int layer, TimeSpan timeout) => Volatile.Read(ref failed) != 0
            ? Task.FromResult<TierEntry?>(null)
            : store.GuardAsync(tier, "get layer", () => ((ILayeredKvTier)store._tiers[tier]).GetSectionAsync(key, layer, CancellationToken.None),
                CancellationToken.None, timeout, countFault: () => Interlocked.Exchange(ref failed, 1) == 0);

        public Task Lost(ChunkCacheKey key, string reason, bool corrupt) => store.Track(Task.Run(async () =>
        {
            if (corrupt)
            {
                await store.DiscardAsync(tier, key, reason, CancellationToken.None);
            }
            else if (!store._states[tier].IsBypassed(store._time.GetUtcNow()))
            {
                // Gone from the tier in part (evicted, removed meanwhile): what is left goes too, so it is stored whole again.
                store._logger.LogWarning("Chunk cache {Key} in tier {Tier} lost a section ({Reason}); removed, treated as a miss",
                    key, store._tiers[tier].Name, reason);
                await store.RemoveFromTierAsync(tier, key, CancellationToken.None);
            }
        }));

        public bool Promotes => tier > 0;

        public void Completed(ChunkCacheKey key, Func<byte[]?> bytes) => store.PromoteLater(tier, key, bytes);
    }

    private async Task<TierEntry?> GetFromTierAsync(int tier, ChunkCacheKey key, CancellationToken cancellationToken)
    {
        if (_states[tier].IsBypassed(_time.GetUtcNow()))
        {
            return null;
        }
        var clock = Stopwatch.StartNew();
        var entry = await GuardAsync(tier, "get", () => _tiers[tier].GetAsync(key, cancellationToken), cancellationToken);
        if (entry is null)
        {
            _states[tier].Miss(clock.Elapsed);
        }
        else
        {
            _states[tier].Hit(entry.Length, clock.Elapsed);
        }
        return entry;
    }

    private async Task<bool> PutToTierAsync(int tier, ChunkCacheKey key, byte[] entry, CancellationToken cancellationToken)
    {
        if (_states[tier].IsBypassed(_time.GetUtcNow()))
        {
            return false;
        }
        var clock = Stopwatch.StartNew();
        var written = await GuardAsync(tier, "put", async () =>
        {
            await _tiers[tier].PutAsync(key, entry, cancellationToken);
            return true;
        }, cancellationToken, _options.TimeoutFor(entry.Length));
        if (written)
        {
            _states[tier].Written(entry.Length, clock.Elapsed);
        }
        return written;
    }

    /// <summary>
    /// Copies a hit into the faster tiers in the background, off the query's path, and then
    /// releases the entry (it owns it from here); a failed copy only costs a later hit (the tier's
    /// fault is counted as usual).
    /// </summary>
    private void Promote(int foundIn, ChunkCacheKey key, TierEntry entry)
    {
        if (foundIn == 0)
        {
            entry.Dispose();
            return;
        }
        PromoteLater(foundIn, key, () =>
        {
            using (entry)
            {
                return entry.ToArray();
            }
        });
    }

    /// <summary>
    /// Copies the entry that <paramref name="bytes"/> makes (which releases the tier's buffers; null:
    /// nothing to copy) into the tiers before <paramref name="foundIn"/>, in the background.
    /// </summary>
    private void PromoteLater(int foundIn, ChunkCacheKey key, Func<byte[]?> bytes) => _ = Track(Task.Run(() =>
    {
        var whole = bytes();
        return whole is null
            ? Task.CompletedTask
            : Task.WhenAll(Enumerable.Range(0, foundIn).Select(i => PutToTierAsync(i, key, whole, CancellationToken.None)));
    }));

    /// <summary>Keeps background work (promotions, removals) where <see cref="FlushPromotionsAsync"/> can wait for it.</summary>
    private Task Track(Task work)
    {
        _promotions[work] = true;
        work.ContinueWith(done => _promotions.TryRemove(done, out _), TaskScheduler.Default);
        return work;
    }

    private async Task DiscardAsync(int tier, ChunkCacheKey key, string reason, CancellationToken cancellationToken)
    {
        _states[tier].Corrupt();
        _logger.LogWarning("Chunk cache {Key} in tier {Tier} failed its check ({Reason}); removed, treated as a miss",
            key, _tiers[tier].Name, reason);
        await RemoveFromTierAsync(tier, key, cancellationToken);
    }

    private Task<bool> RemoveFromTierAsync(int tier, ChunkCacheKey key, CancellationToken cancellationToken) =>
        GuardAsync(tier, "remove", async () =>
        {
            await _tiers[tier].RemoveAsync(key, cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>Runs a tier call under the timeout (<see cref="KvStoreOptions.TierTimeout"/> unless given); a fault or timeout starts the tier's bypass and yields default.</summary>
    /// <param name="countFault">Whether this fault is counted (null: always); calls that fail together count once.</param>
    private async Task<T?> GuardAsync<T>(int tier, string operation, Func<Task<T>> call, CancellationToken cancellationToken,
        TimeSpan? timeout = null, Func<bool>? countFault = null)
    {
        try
        {
            var result = await call().WaitAsync(timeout ?? _options.TierTimeout, cancellationToken);
            _states[tier].Succeeded();
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (countFault?.Invoke() ?? true)
            {
                var bypass = _states[tier].Fault(_time.GetUtcNow(), _options);
                _logger.LogWarning("Tier {Tier} failed on {Operation} ({Error}); bypassed for {Bypass}",
                    _tiers[tier].Name, operation, e.Message, bypass);
            }
            return default;
        }
    }
}
