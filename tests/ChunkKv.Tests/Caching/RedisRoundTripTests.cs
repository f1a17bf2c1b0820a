using System.Security.Cryptography;
using ChunkKv.Testing;
using StackExchange.Redis;

namespace ChunkKv.Tests.Caching;

/// <summary>StackExchange.Redis 1.2.6 against the real server: values the size of a chunk's KV cache survive the trip.</summary>
public sealed class RedisRoundTripTests
{
    [Fact]
    public async Task A_16_MiB_value_comes_back_byte_for_byte()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(TestServices.Redis);
        var db = redis.GetDatabase();
        var key = $"chunkkv:test:{Guid.NewGuid():N}";
        var value = RandomNumberGenerator.GetBytes(16 << 20);

        Assert.True(await db.StringSetAsync(key, value, TimeSpan.FromMinutes(1)));
        byte[]? read = await db.StringGetAsync(key);
        await db.KeyDeleteAsync(key);

        Assert.NotNull(read);
        Assert.Equal(value.Length, read.Length);
        Assert.True(value.AsSpan().SequenceEqual(read));
        Assert.False(await db.KeyExistsAsync(key));
    }
}
