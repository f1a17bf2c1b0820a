using ChunkKv.Server.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace ChunkKv.Server.Health;

/// <summary>Redis answers PING. Down means degraded, not unhealthy: the cache tier is bypassed.</summary>
public sealed class RedisHealthCheck(RedisConnection redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (redis.Multiplexer is null)
        {
            return HealthCheckResult.Healthy("not configured; the Redis cache tier is off");
        }
        try
        {
            var latency = await redis.Multiplexer.GetDatabase().PingAsync().WaitAsync(cancellationToken);
            return HealthCheckResult.Healthy("reachable",
                new Dictionary<string, object> { ["ping_ms"] = Math.Round(latency.TotalMilliseconds, 2) });
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Degraded($"unreachable, cache tier bypassed: {e.Message}");
        }
    }
}
