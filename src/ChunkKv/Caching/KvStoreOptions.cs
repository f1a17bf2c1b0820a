namespace ChunkKv.Caching;

public sealed class KvStoreOptions
{
    /// <summary>A tier call slower than this counts as a fault.</summary>
    public TimeSpan TierTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a tier is bypassed after its first fault; doubles with each fault in a row.</summary>
    public TimeSpan BypassAfterFault { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest bypass, however many faults in a row.</summary>
    public TimeSpan MaxBypass { get; set; } = TimeSpan.FromMinutes(1);
}
