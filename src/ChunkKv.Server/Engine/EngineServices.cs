using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Inference.Models;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Calibration;
using ChunkKv.Server.Jobs;
using ChunkKv.Server.Storage;
using Microsoft.Extensions.Options;
using ChunkKv.Prompts;

namespace ChunkKv.Server.Engine;

public static class EngineServices
{
    public static IServiceCollection AddChunkKvEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<EngineOptions>(configuration);
        services.AddSingleton(provider => CreateRuntime(provider.GetRequiredService<IOptions<EngineOptions>>().Value,
            provider.GetRequiredService<PostgresConnection>(), provider.GetRequiredService<RedisConnection>(),
            provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<CollectionService>();
        services.AddSingleton(provider => new JobStore(
            Path.Combine(provider.GetRequiredService<IOptions<EngineOptions>>().Value.DataDirectory, "jobs"),
            provider.GetRequiredService<ILogger<JobStore>>()));
        services.AddSingleton(provider => new CalibrationStore(
            Path.Combine(provider.GetRequiredService<IOptions<EngineOptions>>().Value.DataDirectory, "calibrations"),
            provider.GetRequiredService<ILogger<CalibrationStore>>()));
        services.AddSingleton<CollectionCalibrations>();
        services.AddSingleton<JobRunner>();
        services.AddHostedService(provider => provider.GetRequiredService<JobRunner>());
        return services;
    }

    /// <summary>
    /// The model, the index (PostgreSQL when configured, else the embedded one), the cache store
    /// (memory ▸ disk ▸ Redis when configured), the codec and the embedder, as one runtime.
    /// </summary>
    private static ChunkKvRuntime CreateRuntime(EngineOptions options, PostgresConnection postgres, RedisConnection redis, ILoggerFactory logging)
    {
        var directory = options.Model is { Length: > 0 } model ? model
            : throw new InvalidOperationException("no model configured: set CHUNKKV_MODEL (or --Model) to a model directory");
        var codec = KvCodec.Create(KvCodec.ParseId(options.Codec));
        var weights = WeightChoice.Parse(options.Weights).WithMemory(options.WeightMemory); // a bad name stops the start-up, naming the choices
        if (options.FailedCalibration is not ("warn" or "refuse"))
        {
            throw new InvalidOperationException($"FailedCalibration is 'warn' or 'refuse', not '{options.FailedCalibration}'");
        }
        var loaded = LanguageModel.Load(directory, weights: weights);
        if (loaded.Tokenizer is null)
        {
            loaded.Dispose();
            throw new InvalidOperationException($"{directory} has no tokenizer.json");
        }
        Directory.CreateDirectory(options.DataDirectory);
        IChunkIndex index = postgres.DataSource is { } dataSource
            ? new PgVectorChunkIndex(dataSource)
            : EmbeddedChunkIndex.Open(Path.Combine(options.DataDirectory, "index"), logging.CreateLogger<EmbeddedChunkIndex>());
        var tiers = new List<IKvTier>
        {
            new MemoryTier(options.MemoryCacheMegabytes << 20),
            new DiskTier(Path.Combine(options.DataDirectory, "kv"), options.DiskCacheMegabytes << 20),
        };
        if (redis.Multiplexer is { } multiplexer)
        {
            tiers.Add(new RedisTier(multiplexer));
        }
        var store = new KvStore(tiers, logger: logging.CreateLogger<KvStore>());
        var embedder = EmbedderChoice.Create(options, loaded);
        return new ChunkKvRuntime(loaded, store, codec, PromptLayout.FromModelDirectory(directory), new RetrievalStores(index, embedder),
            options.ChunkTokens);
    }
}
