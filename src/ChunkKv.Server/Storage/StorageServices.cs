using ChunkKv.Caching.Tiers;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace ChunkKv.Server.Storage;

public static class StorageServices
{
    /// <summary>Registers the PostgreSQL data source and the Redis connection, when configured.</summary>
    public static IServiceCollection AddChunkKvStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<StorageOptions>(configuration);
        services.AddSingleton(sp => new PostgresConnection(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.Postgres is { Length: > 0 } connectionString
                ? ChunkKv.Retrieval.Indexing.PgVectorDataSource.Create(connectionString)
                : null));
        services.AddSingleton(sp => new RedisConnection(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.Redis is { Length: > 0 } configurationString
                ? ConnectRedis(configurationString)
                : null));
        services.AddSingleton<MigrateOnStartService>();
        services.AddHostedService(sp => sp.GetRequiredService<MigrateOnStartService>());
        return services;
    }

    // Redis is a cache tier: the server starts and serves without it, and reconnects later.
    private static ConnectionMultiplexer ConnectRedis(string configurationString) =>
        ConnectionMultiplexer.Connect(RedisConnections.Options(configurationString));
}

/// <summary>The PostgreSQL data source, or null when none is configured.</summary>
public sealed record PostgresConnection(NpgsqlDataSource? DataSource);

/// <summary>The Redis connection, or null when none is configured.</summary>
public sealed record RedisConnection(IConnectionMultiplexer? Multiplexer);
