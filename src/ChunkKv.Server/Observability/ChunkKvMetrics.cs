using ChunkKv.Caching;
using ChunkKv.Pipeline;
using Prometheus;

namespace ChunkKv.Server.Observability;

/// <summary>
/// The server's own figures on <c>/metrics</c>, beside prometheus-net's request counters: time to
/// first token per fusion method, the share of chunk rows recomputed, ingestion throughput, and
/// each cache tier's hits and misses (read from the store when scraped).
/// </summary>
public static class ChunkKvMetrics
{
    private static readonly Histogram Ttft = Metrics.CreateHistogram("chunkkv_ttft_seconds",
        "Time to first token of a query (embed, search, KV load, fusion), by fusion method.",
        new HistogramConfiguration { LabelNames = ["method"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });

    private static readonly Histogram Recomputed = Metrics.CreateHistogram("chunkkv_recomputed_ratio",
        "Share of the prompt's chunk rows recomputed, by fusion method.",
        new HistogramConfiguration { LabelNames = ["method"], Buckets = Histogram.LinearBuckets(0, 0.05, 21) });

    private static readonly Counter IngestedChunks = Metrics.CreateCounter("chunkkv_ingested_chunks_total", "Chunks of ingested documents.");
    private static readonly Counter IngestedTokens = Metrics.CreateCounter("chunkkv_ingested_tokens_total", "Tokens of ingested documents.");
    private static readonly Counter IngestSeconds = Metrics.CreateCounter("chunkkv_ingest_seconds_total", "Time spent ingesting documents.");

    private static readonly Gauge TierHits = Metrics.CreateGauge("chunkkv_cache_hits", "Cache hits since start, by tier.", "tier");
    private static readonly Gauge TierMisses = Metrics.CreateGauge("chunkkv_cache_misses", "Cache misses since start, by tier.", "tier");
    private static readonly Gauge TierFaults = Metrics.CreateGauge("chunkkv_cache_faults", "Tier faults since start (a down tier is bypassed), by tier.", "tier");

    /// <summary>Reads the store's tier counters on every scrape.</summary>
    public static void Observe(KvStore store) => Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
    {
        foreach (var tier in store.Statistics)
        {
            TierHits.WithLabels(tier.Tier).Set(tier.Hits);
            TierMisses.WithLabels(tier.Tier).Set(tier.Misses);
            TierFaults.WithLabels(tier.Tier).Set(tier.Faults);
        }
    });

    public static void Query(QueryResult result)
    {
        var method = result.Method.Name;
        Ttft.WithLabels(method).Observe(result.Timings.Ttft);
        var chunkRows = result.Sources.Sum(s => s.PromptTokens);
        if (chunkRows > 0)
        {
            Recomputed.WithLabels(method).Observe((double)result.RecomputedTokens / chunkRows);
        }
    }

    public static void Ingest(IngestResult result)
    {
        if (result.Outcome == IngestOutcome.Unchanged)
        {
            return;
        }
        IngestedChunks.Inc(result.Chunks);
        IngestedTokens.Inc(result.Tokens);
        IngestSeconds.Inc(result.Elapsed.TotalSeconds);
    }
}
