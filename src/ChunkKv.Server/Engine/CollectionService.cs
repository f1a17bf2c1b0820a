using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Observability;
using Microsoft.Extensions.Options;

namespace ChunkKv.Server.Engine;

/// <summary>A query's answer and the answers of the methods it was compared with, on the same prompt.</summary>
public sealed record Answered(QueryResult Result, IReadOnlyList<QueryResult> Compared);

/// <summary>
/// What the endpoints and the job runner ask of the engine, each in one place: a collection's
/// context by its stored name, then the work on the engine (<see cref="ComputeGate"/>: one
/// computation at a time, queries first, ingestion in slices), then its metrics. The rules
/// themselves live in the library (<see cref="CollectionContext"/>).
/// </summary>
public sealed class CollectionService(ChunkKvRuntime runtime, IOptions<EngineOptions> options)
{
    public ChunkKvRuntime Runtime => runtime;

    public EngineOptions Options => options.Value;

    public IChunkIndex Index => runtime.Index;

    /// <summary>One computation at a time on the engine, queries first.</summary>
    public ComputeGate Compute { get; } = new();

    /// <summary>The collection's context; null when there is no collection of that (stored) name.</summary>
    /// <param name="tenant">Whose it is: its chunk caches are that tenant's alone unless <see cref="EngineOptions.SharedCaches"/>.</param>
    /// <exception cref="CollectionMismatchException">The collection was embedded by another embedder than the server's.</exception>
    public Task<CollectionContext?> FindAsync(string storedName, string tenant, CancellationToken cancellationToken) =>
        runtime.FindCollectionAsync(storedName, CacheScope(tenant), cancellationToken);

    /// <summary>The context of a collection known to exist, for work that needs no embedder (deleting).</summary>
    public CollectionContext Context(CollectionInfo info, string tenant) => runtime.Collection(info.Name, info.Settings, CacheScope(tenant));

    /// <summary>Tenants' chunk caches are kept apart unless the deployment opts into sharing them.</summary>
    private string CacheScope(string tenant) => Options.SharedCaches ? "" : tenant;

    /// <summary>Answers under the compute lock, then each compared method on the same request; records the metrics.</summary>
    public async Task<Answered> AskAsync(CollectionContext collection, QueryRequest request, IReadOnlyList<FusionMethod> compare,
        Action<string>? onText, CancellationToken cancellationToken)
    {
        await Compute.WaitAsync(cancellationToken);
        try
        {
            var result = await collection.AskAsync(request, onText, cancellationToken);
            ChunkKvMetrics.Query(result);
            var compared = new List<QueryResult>();
            foreach (var method in compare)
            {
                compared.Add(await collection.AskAsync(request with { Method = method }, cancellationToken: cancellationToken));
            }
            return new Answered(result, compared);
        }
        finally
        {
            Compute.Release();
        }
    }

    /// <summary>
    /// Ingests, taking the engine one slice at a time (an embedding batch, a chunk's cache) behind
    /// any query that waits; records the metrics.
    /// </summary>
    /// <param name="started">Called once, when the first slice has the engine and the work begins.</param>
    public async Task<IngestResult> IngestAsync(CollectionContext collection, DocumentInput document, IProgress<IngestProgress>? progress,
        CancellationToken cancellationToken, Action? started = null)
    {
        var first = started;
        async Task<IAsyncDisposable> Slice(CancellationToken ct)
        {
            var held = await Compute.SliceAsync(ct);
            Interlocked.Exchange(ref first, null)?.Invoke();
            return held;
        }
        var result = await collection.IngestAsync(document, progress, new IngestOptions { Slice = Slice }, cancellationToken);
        ChunkKvMetrics.Ingest(result);
        return result;
    }
}
