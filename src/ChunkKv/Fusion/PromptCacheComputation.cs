using ChunkKv.Inference.Backends;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>
/// Computes caches the way they are stored: the prefix alone, and a chunk after the prefix, at the
/// positions that continue it (so the prefix, not the chunk's first token, is the attention sink, as
/// in a full prefill). A chunk's cache then depends on the prefix's tokens, which its key records.
/// </summary>
public static class PromptCacheComputation
{
    /// <summary>The prefix's K/V at positions 0 … |P|−1; null for an empty prefix.</summary>
    public static KvCache? Prefix(IComputeBackend backend, int[] prefix)
    {
        if (prefix.Length == 0)
        {
            return null;
        }
        var sequence = backend.NewSequence(prefix.Length);
        backend.ComputeKv(prefix, Enumerable.Range(0, prefix.Length).ToArray(), sequence);
        return sequence.ShareAsCache();
    }

    /// <summary>The chunk's K/V from a prefill of <c>P ++ C</c>, at positions |P| … |P|+|C|−1.</summary>
    public static KvCache Chunk(IComputeBackend backend, KvCache? prefix, int[] chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var start = prefix?.Tokens ?? 0;
        var sequence = backend.NewSequence(start + chunk.Length);
        if (prefix is not null)
        {
            sequence.Append(prefix);
        }
        backend.ComputeKv(chunk, Enumerable.Range(start, chunk.Length).ToArray(), sequence);
        return sequence.Slice(start, chunk.Length);
    }

    /// <summary>Every cache of the prompt, computed here (what the store would hold after ingestion).</summary>
    public static PromptCaches ForPrompt(IComputeBackend backend, FusionPrompt prompt)
    {
        var prefix = Prefix(backend, prompt.Prefix);
        return new PromptCaches(prefix, prompt.Chunks.Select(chunk => Chunk(backend, prefix, chunk)).ToList());
    }
}
