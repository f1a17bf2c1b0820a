using ChunkKv.Fusion;

namespace ChunkKv.Collections;

/// <summary>
/// A prompt fused on the one query path (<see cref="CollectionContext.FuseAsync"/>): the fusion's
/// result (first token's logits, the sequence ready for decoding), where each cache came from, and
/// the time to first token. Dispose it once decoding is done: the sequence's buffers go back to be
/// filled by the next fusion.
/// </summary>
/// <param name="PrefixCache">Where the prefix's cache came from; null when none was read (<c>full</c>, or no prefix).</param>
/// <param name="ChunkCaches">Where each chunk's cache came from; null when none was read (<c>full</c>).</param>
/// <param name="KvLoad">Loading (and checking) the stored caches, computing those that were missing.</param>
public sealed class FusedPrompt(FusionPrompt prompt, FusionResult fusion, CacheSource? prefixCache, IReadOnlyList<CacheSource>? chunkCaches,
    TimeSpan kvLoad, ChunkKvRuntime runtime) : IDisposable
{
    private bool released;

    public FusionPrompt Prompt => prompt;
    public FusionResult Fusion => fusion;
    public CacheSource? PrefixCache => prefixCache;
    public IReadOnlyList<CacheSource>? ChunkCaches => chunkCaches;
    public TimeSpan KvLoad => kvLoad;

    /// <summary>
    /// Time to first token of the prompt: KV load + fusion (assembling the cache and computing the
    /// method's rows and the question), up to the first token's logits. A query adds the time it
    /// took to embed and search (<see cref="Pipeline.QueryTimings.Ttft"/>); eval and bench give the
    /// prompt, so theirs is this.
    /// </summary>
    public TimeSpan Ttft => kvLoad + fusion.Timings.Total;

    /// <summary>The share of the chunks' rows recomputed.</summary>
    public double RecomputedShare => prompt.TotalChunkTokens == 0 ? 0 : (double)fusion.Recomputed.Length / prompt.TotalChunkTokens;

    public void Dispose()
    {
        if (!released)
        {
            released = true;
            runtime.GiveBack(fusion.Sequence); // nothing refers to it from here on (variants and results hold copies)
        }
    }
}
