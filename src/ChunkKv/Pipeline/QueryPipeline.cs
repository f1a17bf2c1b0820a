using System.Diagnostics;
using System.Text.Json.Nodes;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Pipeline;

/// <param name="Prefix">The collection's prompt prefix (system text); null: the layout's.</param>
public sealed record QueryRequest(string Collection, string Question, int TopK = 5, FusionMethod? Method = null,
    int MaxTokens = 64, SamplingOptions? Sampling = null, JsonObject? Filter = null, SearchMode Mode = SearchMode.Hybrid,
    string? Prefix = null);

/// <summary>A retrieved chunk as it went into the prompt, with where its cache came from and the rows of it recomputed.</summary>
public sealed record QuerySource(SearchHit Hit, CacheSource Cache, int PromptStart, int[] TokenIds, int[] RecomputedOffsets)
{
    public int PromptTokens => TokenIds.Length;
}

/// <summary>Seconds spent in each step of a query.</summary>
/// <remarks>
/// <c>Assemble</c> is the thread time of writing the stored K/V into the fused cache (decoding and
/// re-positioning); most of it runs beside <c>Recompute</c>, the method's layers, so the two overlap
/// and <c>Ttft</c> is less than the sum of the steps.
/// </remarks>
public sealed record QueryTimings(double Embed, double Search, double KvLoad, double Assemble, double Recompute, double Ttft,
    double Decode, double DecodeTokensPerSecond);

public sealed record QueryResult(string Answer, int[] AnswerTokens, StopReason StopReason, FusionMethod Method,
    IReadOnlyList<QuerySource> Sources, int PromptTokens, int RecomputedTokens, QueryTimings Timings);

/// <summary>
/// question ▸ embed ▸ search ▸ chunk caches (loaded, or computed and stored when missing or corrupt)
/// ▸ fuse with the chosen method ▸ first token ▸ decode. Retrieved chunks go into the prompt in
/// document order (documents by their best hit), so text that continues from one chunk to the next
/// reads on as it was written.
/// </summary>
public sealed class QueryPipeline(LanguageModel model, IEmbedder embedder, IChunkIndex index, PromptCacheLoader caches, PromptLayout layout)
{
    private readonly Fuser fuser = new(model.Transformer, new ChunkVariantCache());

    /// <summary>
    /// The last query's sequence, kept for the next: its buffers (hundreds of MB for a long prompt
    /// on a real model) are filled again rather than allocated and faulted in again. One is kept;
    /// concurrent queries beyond it allocate their own.
    /// </summary>
    private KvSequence? _spare;

    public async Task<QueryResult> AskAsync(QueryRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Question);
        var tokenizer = model.Tokenizer ?? throw new InvalidOperationException("the model has no tokenizer.json");
        var method = request.Method ?? FusionMethod.CacheBlend;
        var clock = Stopwatch.StartNew();
        var vector = (await embedder.EmbedAsync([request.Question], cancellationToken))[0];
        var embedded = clock.Elapsed.TotalSeconds;
        var hits = await index.SearchAsync(request.Collection,
            new SearchRequest(vector, request.TopK, request.Mode, request.Question, request.Filter), cancellationToken);
        var searched = clock.Elapsed.TotalSeconds;

        var ordered = InDocumentOrder(hits);
        var prompt = layout.Build(tokenizer, ordered.Select(h => h.Content), request.Question, request.Prefix);
        if (prompt.Length + request.MaxTokens > model.Config.MaxPositions)
        {
            throw new PromptTooLongException(prompt.Length, request.MaxTokens, model.Config.MaxPositions);
        }
        var loaded = await caches.LoadAsync(prompt, cancellationToken);
        var loadedAt = clock.Elapsed.TotalSeconds;
        var needed = prompt.Length + request.MaxTokens + 1;
        var spare = Interlocked.Exchange(ref _spare, null);
        var sequence = spare is { Capacity: var capacity } && capacity >= needed && capacity <= 4 * needed
            ? spare
            : model.Transformer.NewSequence(needed); // none kept, too small, or much larger than this prompt needs
        FusionResult fused;
        using (loaded)
        {
            fused = fuser.Fuse(prompt, loaded.Caches, method, sequence);
        }
        var ttft = clock.Elapsed.TotalSeconds;

        var printed = 0;
        var generated = new List<int>();
        var answer = Generator.Decode(model.Transformer, fused.Sequence, fused.Logits, request.MaxTokens, request.Sampling ?? SamplingOptions.Greedy,
            token =>
            {
                generated.Add(token);
                var text = tokenizer.Decode(generated.ToArray());
                // A token may end inside a character: print only what is whole.
                if (onText is not null && text.Length > printed && !text.EndsWith('\uFFFD'))
                {
                    onText(text[printed..]);
                    printed = text.Length;
                }
            }, cancellationToken);
        _spare = fused.Sequence; // nothing refers to it from here on (variants and results hold copies)
        var final = tokenizer.Decode(answer.Tokens);
        if (onText is not null && final.Length > printed)
        {
            onText(final[printed..]);
        }

        var sources = ordered.Select((hit, i) => new QuerySource(hit, loaded.Chunks[i], prompt.ChunkStarts[i], prompt.Chunks[i],
            fused.Recomputed.Where(r => r >= prompt.ChunkStarts[i] && r < prompt.ChunkStarts[i] + prompt.Chunks[i].Length)
                .Select(r => r - prompt.ChunkStarts[i]).ToArray())).ToList();
        var timings = new QueryTimings(embedded, searched - embedded, loadedAt - searched,
            (fused.Timings.Assemble + fused.Timings.Fill).TotalSeconds,
            fused.Timings.Compute.TotalSeconds, ttft, answer.DecodeTime.TotalSeconds, answer.DecodeTokensPerSecond);
        return new QueryResult(final, answer.Tokens, answer.StopReason, method, sources, prompt.Length, fused.Recomputed.Length, timings);
    }

    /// <summary>Hits grouped by document (documents in order of their best hit), each document's chunks in their order.</summary>
    public static IReadOnlyList<SearchHit> InDocumentOrder(IReadOnlyList<SearchHit> hits) =>
        hits.Select((hit, rank) => (hit, rank))
            .GroupBy(h => h.hit.DocumentId, StringComparer.Ordinal)
            .OrderBy(g => g.Min(h => h.rank))
            .SelectMany(g => g.Select(h => h.hit).OrderBy(h => h.Ordinal))
            .ToList();
}

/// <summary>The prompt with its answer would not fit the model's positions.</summary>
public sealed class PromptTooLongException(int promptTokens, int maxTokens, int maxPositions)
    : Exception($"the prompt has {promptTokens} tokens and the answer may take {maxTokens}; the model has {maxPositions} positions")
{
    public int PromptTokens { get; } = promptTokens;
    public int MaxPositions { get; } = maxPositions;
}
