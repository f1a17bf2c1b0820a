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
/// failing the caller.
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

    /// <summary>Waits for the promotions started in the background so far (tests, and a clean shutdown).</summary>
    public Task FlushPromotionsAsync() => Task.WhenAll(_promotions.Keys);

    /// <summary>The whole chunk, checked and decoded; null on a miss in every tier.</summary>
    public async Task<CachedChunk?> GetAsync(ChunkCacheKey key, ReadOnlyMemory<byte> fingerprint, CancellationToken cancellationToken = default)
    {
        using var entry = await GetCheckedAsync(key, fingerprint, cancellationToken);
        return entry?.Decode();
    }

    /// <summary>
    /// The chunk checked (header, fingerprint, every layer's checksum) but not decoded, reading the
    /// tier's bytes in place: the caller decodes its layers where it needs them and disposes it when
    /// done, which releases a Redis lease and starts the promotion into the faster tiers. An entry
    /// that fails a check is removed from its tier and the next tier is tried; null on a miss in every tier.
    /// </summary>
    public async Task<CheckedEntry?> GetCheckedAsync(ChunkCacheKey key, ReadOnlyMemory<byte> fingerprint,
        CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < _tiers.Length; i++)
        {
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
                await DiscardAsync(i, key, e, cancellationToken);
            }
        }
        return null;
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
        }, cancellationToken);
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
        var promotion = Task.Run(() =>
        {
            byte[] bytes;
            using (entry)
            {
                bytes = entry.ToArray();
            }
            return Task.WhenAll(Enumerable.Range(0, foundIn).Select(i => PutToTierAsync(i, key, bytes, CancellationToken.None)));
        });
        _promotions[promotion] = true;
        promotion.ContinueWith(done => _promotions.TryRemove(done, out _), TaskScheduler.Default);
    }

    private async Task DiscardAsync(int tier, ChunkCacheKey key, CorruptCacheException error, CancellationToken cancellationToken)
    {
        _states[tier].Corrupt();
        _logger.LogWarning("Chunk cache {Key} in tier {Tier} failed its check ({Reason}); removed, treated as a miss",
            key, _tiers[tier].Name, error.Message);
        await RemoveFromTierAsync(tier, key, cancellationToken);
    }

    private Task<bool> RemoveFromTierAsync(int tier, ChunkCacheKey key, CancellationToken cancellationToken) =>
        GuardAsync(tier, "remove", async () =>
        {
            await _tiers[tier].RemoveAsync(key, cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>Runs a tier call under the timeout; a fault or timeout starts the tier's bypass and yields default.</summary>
    private async Task<T?> GuardAsync<T>(int tier, string operation, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            var result = await call().WaitAsync(_options.TierTimeout, cancellationToken);
            _states[tier].Succeeded();
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var bypass = _states[tier].Fault(_time.GetUtcNow(), _options);
            _logger.LogWarning("Tier {Tier} failed on {Operation} ({Error}); bypassed for {Bypass}",
                _tiers[tier].Name, operation, e.Message, bypass);
            return default;
        }
    }
}
