using StackExchange.Redis;

namespace ChunkKv.Caching.Tiers;

/// <summary>How every ChunkKv process connects to the Redis tier: one set of options in one place.</summary>
public static class RedisConnections
{
    /// <summary>
    /// The options for a cache tier: the process starts and serves without Redis and reconnects
    /// later (no abort on a failed connect), and a command issued while disconnected fails at once
    /// (<see cref="BacklogPolicy.FailFast"/>) instead of waiting in StackExchange.Redis 3's backlog
    /// past a health check's or the store's timeout: a Redis outage is a fast miss, not a stall.
    /// </summary>
    public static ConfigurationOptions Options(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 5000;
        return options;
    }

    public static Task<ConnectionMultiplexer> ConnectAsync(string configuration) => ConnectionMultiplexer.ConnectAsync(Options(configuration));
}
