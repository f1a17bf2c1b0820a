using System.Diagnostics;
using ChunkKv.Caching.Format;
using ChunkKv.Chunking;
using ChunkKv.Fusion;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Prompts;

namespace ChunkKv.Collections;

/// <summary>
/// Everything that must agree between a collection's ingestion and its queries, in one object: the
/// prompt prefix (in tokens) its chunk caches are computed after, its chunk size, how prompt pieces
/// are tokenized, how cache keys are made, how a missing cache is computed, and the one path from a
/// prompt to its first token (<see cref="FuseAsync"/>). Made by <see cref="ChunkKvRuntime.Collection"/>.
/// </summary>
public sealed class CollectionContext
{
    private readonly Lazy<Chunker> chunker;
    private readonly Lazy<IngestPipeline> ingestion;
    private readonly Lazy<QueryPipeline> queries;

    internal CollectionContext(ChunkKvRuntime runtime, string name, CollectionSettings settings, ChunkCaches caches, string? prefixText, int chunkTokens)
    {
        Runtime = runtime;
        Name = name;
        Settings = settings;
        PrefixText = prefixText;
        ChunkTokens = chunkTokens;
        Caches = caches;
        chunker = new(() => new Chunker(Tokenizer, new ChunkingOptions { TargetTokens = chunkTokens }));
        ingestion = new(() => new IngestPipeline(this));
        queries = new(() => new QueryPipeline(this));
    }

    public ChunkKvRuntime Runtime { get; }

    /// <summary>The collection's name in the index ("" for a context of prompts given in tokens).</summary>
    public string Name { get; }

    /// <summary>As the collection was created; null fields took the runtime's defaults.</summary>
    public CollectionSettings Settings { get; }

    /// <summary>The collection's instruction (its system text; the layout frames it); null for a prefix given in tokens.</summary>
    public string? PrefixText { get; }

    /// <summary>Tokens per chunk at ingestion.</summary>
    public int ChunkTokens { get; }

    /// <summary>The chunk caches of this prefix: keys, computing, storing, loading.</summary>
    public ChunkCaches Caches { get; }

    public int[] PrefixTokens => Caches.Prefix;

    public Tokenizer Tokenizer => Runtime.Model.Tokenizer
        ?? throw new InvalidOperationException($"the model in {Runtime.Model.Directory} has no tokenizer.json: prompts must be given in tokens");

    public Chunker Chunker => chunker.Value;

    /// <summary>A chunk as prompts hold it, and so as its cache is computed: its text in the layout's form (with its separator), tokenized whole.</summary>
    /// <remarks>
    /// The chunker has tokenized the text alone to size it; the separator may merge with the chunk's
    /// edge tokens, so the prompt's form is tokenized on its own rather than joined from the two.
    /// </remarks>
    public int[] ChunkPromptTokens(string chunkText) => Tokenizer.Encode(Runtime.Layout.ChunkText(chunkText), addSpecialTokens: false);

    /// <summary>The question part of the prompt in tokens: the client's system text and earlier turns, the question, the answer's opening.</summary>
    /// <exception cref="Inference.Tokenization.Jinja.TemplateRaisedException">The model's chat template refused the conversation.</exception>
    public int[] QuestionTokens(string question, Conversation? conversation = null) => Tokenizer.Encode(
        Runtime.Layout.QuestionText(PrefixText ?? Runtime.Layout.Instruction, question, conversation ?? Conversation.None), addSpecialTokens: false);

    /// <summary><c>P ++ C₁ ++ … ++ Cₘ ++ Q</c> for chunks and a question given as text, each piece tokenized on its own.</summary>
    public FusionPrompt Prompt(IEnumerable<string> chunks, string question, Conversation? conversation = null)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(question);
        return new FusionPrompt(PrefixTokens, chunks.Select(ChunkPromptTokens).ToList(), QuestionTokens(question, conversation));
    }

    /// <summary>The prompt for chunks and a question given in tokens, after this context's prefix.</summary>
    public FusionPrompt Prompt(IReadOnlyList<int[]> chunks, int[] question) => new(PrefixTokens, chunks, question);

    /// <summary>
    /// Stores what the prompt's caches lack (what ingestion would have stored), so that a fusion
    /// after it is timed as a query that finds them.
    /// </summary>
    public async Task StoreCachesAsync(FusionPrompt prompt, CancellationToken cancellationToken = default) =>
        (await Caches.LoadAsync(prompt, cancellationToken)).Dispose();

    /// <summary>
    /// The one path from a prompt to its first token: the method's caches loaded (what is missing or
    /// corrupt is computed and stored), fused by the runtime's fuser into a kept sequence. Dispose the
    /// result once decoding is done, so the next fusion reuses its buffers.
    /// </summary>
    /// <remarks>
    /// A streamed cache whose layer fails its check or does not arrive once fusion has begun
    /// (<see cref="StoredLayerLostException"/>) is dropped by the store; the prompt is then fused
    /// again, which computes that chunk and stores it afresh. Each retry drops one more entry, so
    /// there are at most as many as the prompt has caches.
    /// </remarks>
    /// <exception cref="PromptTooLongException">The prompt and <paramref name="answerTokens"/> would not fit the model's positions.</exception>
    public async Task<FusedPrompt> FuseAsync(FusionPrompt prompt, FusionMethod method, int answerTokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(method);
        var maxPositions = Runtime.Model.Config.MaxPositions;
        if (prompt.Length + answerTokens > maxPositions)
        {
            throw new PromptTooLongException(prompt.Length, answerTokens, maxPositions);
        }
        var lostBefore = TimeSpan.Zero;
        for (var attempt = 0; ; attempt++)
        {
            var attemptClock = Stopwatch.StartNew();
            // full reads no cache: loading them would only slow it.
            using var loaded = method.ReadsCaches ? await Caches.LoadAsync(prompt, cancellationToken) : null;
            var sequence = Runtime.TakeSequence(prompt.Length + answerTokens + 1);
            try
            {
                var fusion = Runtime.Fuser.Fuse(prompt, loaded?.Caches, method, sequence);
                return new FusedPrompt(prompt, fusion, loaded?.Prefix, loaded?.Chunks, lostBefore + (loaded?.Elapsed ?? TimeSpan.Zero), Runtime);
            }
            catch (StoredLayerLostException lost) when (attempt <= prompt.Chunks.Count)
            {
                // Once the store has dropped that entry, loading again computes and stores it. The time lost counts as loading.
                Runtime.GiveBack(sequence);
                await lost.Dropped;
                lostBefore += attemptClock.Elapsed;
            }
        }
    }

    /// <summary>Chunk ▸ embed ▸ index ▸ store each chunk's cache ▸ searchable (<see cref="IngestPipeline"/>).</summary>
    public Task<IngestResult> IngestAsync(DocumentInput document, IProgress<IngestProgress>? progress = null, IngestOptions? options = null,
        CancellationToken cancellationToken = default) =>
        ingestion.Value.IngestAsync(document, progress, options ?? IngestOptions.Default, cancellationToken);

    /// <summary>Removes a document and the caches no other chunk uses; false when there was none.</summary>
    public Task<bool> DeleteDocumentAsync(string externalId, CancellationToken cancellationToken = default) =>
        ingestion.Value.DeleteAsync(externalId, cancellationToken);

    /// <summary>Question ▸ embed ▸ search ▸ neighbours: the chunks a query's prompt would hold, in its order (what <see cref="AskAsync"/> retrieves).</summary>
    public Task<Retrieved> RetrieveAsync(QueryRequest request, CancellationToken cancellationToken = default) =>
        queries.Value.RetrieveAsync(request, cancellationToken);

    /// <summary>Question ▸ embed ▸ search ▸ <see cref="FuseAsync"/> ▸ decode (<see cref="QueryPipeline"/>).</summary>
    public Task<QueryResult> AskAsync(QueryRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        queries.Value.AskAsync(request, onText, cancellationToken);
}
