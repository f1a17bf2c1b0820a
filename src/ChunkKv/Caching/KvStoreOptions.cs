namespace ChunkKv.Caching;

public sealed class KvStoreOptions
{
    /// <summary>A tier call slower than this counts as a fault (plus the time its bytes take, <see cref="TimeoutFor"/>).</summary>
    public TimeSpan TierTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The slowest transfer that is not a fault, in bytes a second: a call moving more bytes is given
    /// longer, so a large entry (or a prompt's layers requested at once) on a slow link is not cut off
    /// by a timeout meant for a round trip.
    /// </summary>
    public long SlowestBytesPerSecond { get; set; } = 32L << 20;

    /// <summary>The timeout of a tier call that moves <paramref name="bytes"/>.</summary>
    public TimeSpan TimeoutFor(long bytes) => TierTimeout + TimeSpan.FromSeconds((double)bytes / SlowestBytesPerSecond);

    /// <summary>How long a tier is bypassed after its first fault; doubles with each fault in a row.</summary>
    public TimeSpan BypassAfterFault { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest bypass, however many faults in a row.</summary>
    public TimeSpan MaxBypass { get; set; } = TimeSpan.FromMinutes(1);
}
