using System.Diagnostics;
using System.Text.Json.Nodes;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Prompts;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Pipeline;

/// <summary>A question to a collection (its <see cref="CollectionContext"/> says which).</summary>
/// <param name="TopK">Chunks the prompt holds: the best hits, and their neighbours (<paramref name="Neighbours"/>) among them.</param>
/// <param name="Method">null: <see cref="FusionMethod.Default"/>.</param>
/// <param name="Neighbours">Chunks next to each hit to bring along; null: none.</param>
/// <param name="Conversation">The client's system text and earlier turns, written after the chunks; null: none. Retrieval reads only <paramref name="Question"/>.</param>
public sealed record QueryRequest(string Question, int TopK = 5, FusionMethod? Method = null,
    int MaxTokens = 64, SamplingOptions? Sampling = null, JsonObject? Filter = null, SearchMode Mode = SearchMode.Hybrid,
    Neighbours? Neighbours = null, Conversation? Conversation = null);

/// <summary>
/// The chunks before and after a hit, in its document, that a query brings along with it: text that
/// continues from one chunk to the next ("They" opening a chunk) is found through the chunk that names
/// its subject. They go into the prompt in document order, so their caches hit like any other chunk's.
/// </summary>
public sealed record Neighbours(int Before, int After)
{
    public const int Most = 4;

    public static Neighbours None { get; } = new(0, 0);

    /// <exception cref="ArgumentOutOfRangeException">Either is below 0 or above <see cref="Most"/>.</exception>
    public Neighbours Checked() => Before is >= 0 and <= Most && After is >= 0 and <= Most
        ? this
        : throw new ArgumentOutOfRangeException(nameof(Neighbours), this, $"neighbours before and after are from 0 to {Most}");

    /// <summary>The ordinals around <paramref name="ordinal"/>, nearest first, before then after.</summary>
    public IEnumerable<int> Around(int ordinal) =>
        Enumerable.Range(1, Before).Select(d => ordinal - d).Where(o => o >= 0).Concat(Enumerable.Range(1, After).Select(d => ordinal + d));
}

/// <summary>A retrieved chunk as it went into the prompt, with where its cache came from and the rows of it recomputed.</summary>
/// <param name="Neighbour">Brought along as a hit's neighbour (<see cref="Neighbours"/>), not found by the search itself.</param>
public sealed record QuerySource(SearchHit Hit, CacheSource Cache, int PromptStart, int[] TokenIds, int[] RecomputedOffsets, bool Neighbour = false)
{
    public int PromptTokens => TokenIds.Length;
}

/// <summary>
/// A query's chunks as its prompt holds them (<see cref="Chunks"/>: hits and their neighbours, in
/// document order) and as they were ranked (<see cref="Ranked"/>: each hit in search order followed by
/// the neighbours it brought), which of them the search found, and how long embedding and searching took.
/// </summary>
public sealed record Retrieved(IReadOnlyList<SearchHit> Chunks, IReadOnlyList<SearchHit> Ranked, IReadOnlySet<(string Document, int Ordinal)> Found,
    TimeSpan Embed, TimeSpan Search)
{
    /// <summary>Whether the search found this chunk itself (else it came as a neighbour).</summary>
    public bool WasFound(SearchHit chunk) => Found.Contains((chunk.DocumentId, chunk.Ordinal));
}

/// <summary>Seconds spent in each step of a query.</summary>
/// <remarks>
/// <c>Ttft</c> is the time from the question to the first token's logits: <c>Embed + Search</c> and
/// the prompt's own time to first token (<see cref="FusedPrompt.Ttft"/>: KV load and fusion).
/// <c>Assemble</c> is the thread time of writing the stored K/V into the fused cache (decoding and
/// re-positioning); most of it runs beside <c>Recompute</c>, the method's layers, so the two overlap
/// and <c>Ttft</c> is less than the sum of the steps.
/// </remarks>
public sealed record QueryTimings(double Embed, double Search, double KvLoad, double Assemble, double Recompute, double Ttft,
    double Decode, double DecodeTokensPerSecond);

public sealed record QueryResult(string Answer, int[] AnswerTokens, StopReason StopReason, FusionMethod Method,
    IReadOnlyList<QuerySource> Sources, int PromptTokens, int RecomputedTokens, QueryTimings Timings);

/// <summary>
/// question ▸ embed ▸ search ▸ chunks in document order (documents by their best hit, so text that
/// continues from one chunk to the next reads on as it was written) ▸ the collection's one path from
/// a prompt to its first token (<see cref="CollectionContext.FuseAsync"/>) ▸ decode.
/// </summary>
internal sealed class QueryPipeline(CollectionContext context)
{
    public async Task<QueryResult> AskAsync(QueryRequest request, Action<string>? onText, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Question);
        var runtime = context.Runtime;
        var tokenizer = context.Tokenizer;
        var method = request.Method ?? FusionMethod.Default;
        var retrieved = await RetrieveAsync(request, cancellationToken);
        var ordered = retrieved.Chunks;
        var prompt = context.Prompt(ordered.Select(h => h.Content), request.Question, request.Conversation);
        using var fused = await context.FuseAsync(prompt, method, request.MaxTokens, cancellationToken);

        var printed = 0;
        var generated = new List<int>();
        var answer = Generator.Decode(runtime.Model.Transformer, fused.Fusion.Sequence, fused.Fusion.Logits, request.MaxTokens,
            request.Sampling ?? SamplingOptions.Greedy,
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
        var final = tokenizer.Decode(answer.Tokens);
        if (onText is not null && final.Length > printed)
        {
            onText(final[printed..]);
        }

        var recomputed = fused.Fusion.Recomputed;
        var sources = ordered.Select((hit, i) => new QuerySource(hit, fused.ChunkCaches?[i] ?? CacheSource.Unused, prompt.ChunkStarts[i], prompt.Chunks[i],
            recomputed.Where(r => r >= prompt.ChunkStarts[i] && r < prompt.ChunkStarts[i] + prompt.Chunks[i].Length)
                .Select(r => r - prompt.ChunkStarts[i]).ToArray(), !retrieved.WasFound(hit))).ToList();
        var timings = new QueryTimings(retrieved.Embed.TotalSeconds, retrieved.Search.TotalSeconds, fused.KvLoad.TotalSeconds,
            (fused.Fusion.Timings.Assemble + fused.Fusion.Timings.Fill).TotalSeconds, fused.Fusion.Timings.Compute.TotalSeconds,
            (retrieved.Embed + retrieved.Search + fused.Ttft).TotalSeconds, answer.DecodeTime.TotalSeconds, answer.DecodeTokensPerSecond);
        return new QueryResult(final, answer.Tokens, answer.StopReason, method, sources, prompt.Length, recomputed.Length, timings);
    }

    /// <summary>The chunks a query's prompt holds, in the order it holds them (<see cref="CollectionContext.RetrieveAsync"/>).</summary>
    public async Task<Retrieved> RetrieveAsync(QueryRequest request, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var vector = (await context.Runtime.Embedder.EmbedAsync([request.Question], cancellationToken))[0];
        var embedded = clock.Elapsed;
        var hits = await context.Runtime.Index.SearchAsync(context.Name,
            new SearchRequest(vector, request.TopK, request.Mode, request.Question, request.Filter), cancellationToken);
        var found = hits.Select(h => (h.DocumentId, h.Ordinal)).ToHashSet();
        var chunks = await WithNeighboursAsync(hits, (request.Neighbours ?? Neighbours.None).Checked(), request.TopK, cancellationToken);
        return new Retrieved(InDocumentOrder(chunks), chunks, found, embedded, clock.Elapsed - embedded);
    }

    /// <summary>
    /// The hits in rank order, each followed by its neighbours (those not already in), until the
    /// prompt holds <paramref name="limit"/> chunks: the prompt is no longer than <c>top_k</c> made
    /// it, and a better hit's context comes before a worse hit.
    /// </summary>
    private async Task<IReadOnlyList<SearchHit>> WithNeighboursAsync(IReadOnlyList<SearchHit> hits, Neighbours neighbours, int limit,
        CancellationToken cancellationToken)
    {
        if (neighbours == Neighbours.None)
        {
            return hits;
        }
        // One lookup per document, for every neighbour its hits may bring.
        var around = new Dictionary<(string Document, int Ordinal), SearchHit>();
        foreach (var document in hits.GroupBy(h => h.DocumentId, StringComparer.Ordinal))
        {
            var wanted = document.SelectMany(h => neighbours.Around(h.Ordinal)).ToHashSet();
            foreach (var chunk in await context.Runtime.Index.GetChunksAsync(context.Name, document.Key, wanted, cancellationToken))
            {
                around[(chunk.DocumentId, chunk.Ordinal)] = chunk;
            }
        }
        var taken = new List<SearchHit>();
        var seen = new HashSet<(string, int)>();
        void Take(SearchHit chunk)
        {
            if (taken.Count < limit && seen.Add((chunk.DocumentId, chunk.Ordinal)))
            {
                taken.Add(chunk);
            }
        }
        foreach (var hit in hits)
        {
            Take(hit);
            foreach (var ordinal in neighbours.Around(hit.Ordinal))
            {
                if (around.TryGetValue((hit.DocumentId, ordinal), out var neighbour))
                {
                    Take(hits.FirstOrDefault(h => h.DocumentId == neighbour.DocumentId && h.Ordinal == ordinal) ?? neighbour);
                }
            }
        }
        return taken;
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
