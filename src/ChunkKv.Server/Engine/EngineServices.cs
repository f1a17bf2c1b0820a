using System.Collections.Concurrent;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Chunking;
using ChunkKv.Inference.Models;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Jobs;
using ChunkKv.Server.Storage;
using Microsoft.Extensions.Options;

namespace ChunkKv.Server.Engine;

/// <summary>
/// What answers questions: the model, the index (PostgreSQL when configured, else the embedded
/// one), the cache store (memory ▸ disk ▸ Redis when configured), the embedder, and the ingest and
/// query pipelines over them, all in the prompt layout of the model.
/// </summary>
public sealed class ChunkKvEngine : IDisposable
{
    public ChunkKvEngine(IOptions<EngineOptions> options, PostgresConnection postgres, RedisConnection redis, ILoggerFactory logging)
    {
        Options = options.Value;
        var directory = Options.Model is { Length: > 0 } model ? model
            : throw new InvalidOperationException("no model configured: set CHUNKKV_MODEL (or --Model) to a model directory");
        Model = LanguageModel.Load(directory);
        Tokenizer = Model.Tokenizer ?? throw new InvalidOperationException($"{directory} has no tokenizer.json");
        Layout = PromptLayout.FromModelDirectory(directory);
        Codec = KvCodec.Create(KvCodec.ParseId(Options.Codec));
        Directory.CreateDirectory(Options.DataDirectory);
        Index = postgres.DataSource is { } dataSource
            ? new PgVectorChunkIndex(dataSource)
            : EmbeddedChunkIndex.Open(Path.Combine(Options.DataDirectory, "index"), logging.CreateLogger<EmbeddedChunkIndex>());
        var tiers = new List<IKvTier>
        {
            new MemoryTier(Options.MemoryCacheMegabytes << 20),
            new DiskTier(Path.Combine(Options.DataDirectory, "kv"), Options.DiskCacheMegabytes << 20),
        };
        if (redis.Multiplexer is { } multiplexer)
        {
            tiers.Add(new RedisTier(multiplexer));
        }
        Store = new KvStore(tiers, logger: logging.CreateLogger<KvStore>());
        Embedder = new HashingEmbedder();
        Caches = new PromptCacheLoader(Model, Store, Codec);
        Query = new QueryPipeline(Model, Embedder, Index, Caches, Layout);
        Ingest = IngestFor(CollectionSettings.None);
    }

    public EngineOptions Options { get; }
    public LanguageModel Model { get; }
    public Inference.Tokenization.Tokenizer Tokenizer { get; }
    public PromptLayout Layout { get; }
    public KvCodec Codec { get; }
    public IChunkIndex Index { get; }
    public KvStore Store { get; }
    public IEmbedder Embedder { get; }
    public PromptCacheLoader Caches { get; }
    public QueryPipeline Query { get; }

    /// <summary>Ingestion with the server's defaults; deleting goes through it for every collection (it does not depend on them).</summary>
    public IngestPipeline Ingest { get; }

    private readonly ConcurrentDictionary<(string Prefix, int ChunkTokens), IngestPipeline> _pipelines = new();

    /// <summary>
    /// Ingestion in a collection's settings: chunks of its size, caches computed after its prefix
    /// (keyed by it, so a query with that prefix hits them). One pipeline per distinct setting.
    /// </summary>
    public IngestPipeline IngestFor(CollectionSettings settings) =>
        _pipelines.GetOrAdd((settings.Prefix ?? Layout.Prefix, settings.ChunkTokens ?? Options.ChunkTokens), key =>
        {
            var prefix = Layout.Build(Tokenizer, [], "", key.Prefix).Prefix;
            var precomputer = new KvPrecomputer(Model, Store, Codec, prefix);
            return new IngestPipeline(new Chunker(Tokenizer, new ChunkingOptions { TargetTokens = key.ChunkTokens }), Embedder, Index,
                precomputer.Keys, precomputer, new IngestOptions { ChunkSeparator = Layout.ChunkSeparator });
        });

    /// <summary>One computation at a time on the engine: both cores go to it, and two would only slow each other.</summary>
    public SemaphoreSlim Compute { get; } = new(1, 1);

    public void Dispose()
    {
        (Index as IDisposable)?.Dispose();
        Model.Dispose();
        Compute.Dispose();
    }
}

public static class EngineServices
{
    public static IServiceCollection AddChunkKvEngine(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<EngineOptions>(configuration);
        services.AddSingleton<ChunkKvEngine>();
        services.AddSingleton(provider => new JobStore(
            Path.Combine(provider.GetRequiredService<IOptions<EngineOptions>>().Value.DataDirectory, "jobs"),
            provider.GetRequiredService<ILogger<JobStore>>()));
        services.AddSingleton<IngestJobRunner>();
        services.AddHostedService(provider => provider.GetRequiredService<IngestJobRunner>());
        return services;
    }
}
