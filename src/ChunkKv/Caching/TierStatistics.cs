namespace ChunkKv.Caching;

/// <summary>Counters of one tier since the store was made.</summary>
public sealed record TierStatistics(
    string Tier, long Hits, long Misses, long Faults, long CorruptEntries, long BytesRead, long BytesWritten,
    double GetMilliseconds, double PutMilliseconds, bool Bypassed);

/// <summary>Thread-safe counters and back-off state of one tier.</summary>
internal sealed class TierState(string name)
{
    private long _hits, _misses, _faults, _corrupt, _bytesRead, _bytesWritten, _getTicks, _putTicks;
    private int _faultsInARow;
    private long _bypassUntilTicks;

    public void Hit(long bytes, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _hits);
        Interlocked.Add(ref _bytesRead, bytes);
        Interlocked.Add(ref _getTicks, elapsed.Ticks);
    }

    public void Miss(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _misses);
        Interlocked.Add(ref _getTicks, elapsed.Ticks);
    }

    public void Written(long bytes, TimeSpan elapsed)
    {
        Interlocked.Add(ref _bytesWritten, bytes);
        Interlocked.Add(ref _putTicks, elapsed.Ticks);
    }

    public void Corrupt() => Interlocked.Increment(ref _corrupt);

    public void Succeeded() => Volatile.Write(ref _faultsInARow, 0);

    /// <summary>Counts a fault and starts (or lengthens) the bypass; returns how long it lasts.</summary>
    public TimeSpan Fault(DateTimeOffset now, KvStoreOptions options)
    {
        Interlocked.Increment(ref _faults);
        var inARow = Math.Min(Interlocked.Increment(ref _faultsInARow), 16);
        var bypass = TimeSpan.FromTicks(Math.Min(options.BypassAfterFault.Ticks << (inARow - 1), options.MaxBypass.Ticks));
        Volatile.Write(ref _bypassUntilTicks, (now + bypass).UtcTicks);
        return bypass;
    }

    public bool IsBypassed(DateTimeOffset now) => now.UtcTicks < Volatile.Read(ref _bypassUntilTicks);

    public TierStatistics Snapshot(DateTimeOffset now) => new(name,
        Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Interlocked.Read(ref _faults), Interlocked.Read(ref _corrupt),
        Interlocked.Read(ref _bytesRead), Interlocked.Read(ref _bytesWritten),
        TimeSpan.FromTicks(Interlocked.Read(ref _getTicks)).TotalMilliseconds,
        TimeSpan.FromTicks(Interlocked.Read(ref _putTicks)).TotalMilliseconds, IsBypassed(now));
}
