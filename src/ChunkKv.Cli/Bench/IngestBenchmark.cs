using System.Diagnostics;
using System.Text;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Prompts;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// Ingest throughput, on generated prose or on real passages (<c>--passages</c>: a multi-hop set's
/// paragraphs): indexing alone (embedded index) with each embedder asked for, then with KV precompute
/// as well (the first embedder; random weights at a real shape, memory + disk tiers), on the same
/// documents in the same run, with each embedder's latency for one question. Precompute is the
/// engine's prefill of every chunk, so its figure is bounded by <c>bench prefill</c>'s tokens/s.
/// </summary>
public static class IngestBenchmark
{
    /// <param name="Embedders">Names as the server takes them (<c>hashing</c>, <c>minilm</c>).</param>
    /// <param name="Passages">A multi-hop set whose first <paramref name="Documents"/> paragraphs are the documents; null: generated prose.</param>
    public sealed record Settings(ModelShape Shape, string TokenizerDirectory, int Documents, int TargetTokens, KvCodecId Codec, string ModelCache,
        IReadOnlyList<string>? Embedders = null, string? Passages = null);

    /// <summary>The embedders the bench knows, by the server's names.</summary>
    public static IEmbedder CreateEmbedder(string name) => name switch
    {
        "hashing" => new HashingEmbedder(),
        "minilm" => MiniLmEmbedder.Load(),
        _ => throw new UsageException($"--embedder takes hashing or minilm, not '{name}'"),
    };

    public static async Task<IngestReport> RunAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var tokenizer = Tokenizer.FromDirectory(settings.TokenizerDirectory);
        // A shape whose vocabulary is smaller than the tokenizer's (the tiny ones) is widened to it.
        var shape = tokenizer.VocabSize <= settings.Shape.VocabSize
            ? settings.Shape
            : settings.Shape with { Name = $"{settings.Shape.Name}-vocab{tokenizer.VocabSize}", VocabSize = tokenizer.VocabSize };
        using var model = LanguageModel.Load(BenchModels.Ensure(shape, settings.ModelCache, progress, settings.TokenizerDirectory));
        var (documents, questions) = Documents(settings);
        var embedders = (settings.Embedders ?? ["hashing"]).Select(CreateEmbedder).ToList();
        var scratch = Directory.CreateTempSubdirectory("chunkkv-bench-ingest-");
        try
        {
            var codec = KvCodec.Create(settings.Codec);
            var settingsOfCollection = new CollectionSettings(ChunkTokens: settings.TargetTokens);
            CollectionContext Collection(IChunkIndex index, KvStore store, IEmbedder embedder) =>
                new ChunkKvRuntime(model, store, codec, PromptLayout.Default, new RetrievalStores(index, embedder))
                    .Collection("bench", settingsOfCollection);

            var results = new List<IngestFigures>();
            foreach (var embedder in embedders)
            {
                // Without precompute: repeated on fresh indexes until a second has passed, for a steady figure.
                var without = new IngestFigures($"index only ({embedder.Name})", 0, 0, 0, 0);
                var runs = 0;
                var clock = Stopwatch.StartNew();
                while (runs == 0 || clock.Elapsed < TimeSpan.FromSeconds(1))
                {
                    using var index = EmbeddedChunkIndex.Open(Path.Combine(scratch.FullName, $"index-{results.Count}-{runs++}"));
                    var indexOnly = Collection(index, new KvStore([new MemoryTier(1L << 20)]), embedder);
                    without = without.Add(await IngestAllAsync(indexOnly, new IngestOptions { StoreCaches = false }, documents, cancellationToken));
                }
                results.Add(without.Average(runs) with { QueryEmbedMilliseconds = await QueryLatencyAsync(embedder, questions, cancellationToken) });
            }

            progress.WriteLine($"precomputing the KV caches of {results[0].Chunks} chunks with {shape.Name} weights ...");
            using var cachedIndex = EmbeddedChunkIndex.Open(Path.Combine(scratch.FullName, "index-kv"));
            var store = new KvStore([new MemoryTier(1L << 30), new DiskTier(Path.Combine(scratch.FullName, "kv"))]);
            var with = await IngestAllAsync(Collection(cachedIndex, store, embedders[0]), IngestOptions.Default, documents, cancellationToken)
                with { Mode = $"index + KV precompute ({codec}, {embedders[0].Name})" };
            results.Add(with);
            return new IngestReport(shape.Name, settings.TargetTokens, documents.Count, settings.Passages is null ? "generated prose" : Path.GetFileName(settings.Passages),
                results);
        }
        finally
        {
            scratch.Delete(recursive: true);
            foreach (var embedder in embedders)
            {
                (embedder as IDisposable)?.Dispose();
            }
        }
    }

    /// <summary>The documents, and questions to time a query's embedding with.</summary>
    private static (List<DocumentInput> Documents, IReadOnlyList<string> Questions) Documents(Settings settings)
    {
        if (settings.Passages is null)
        {
            var prose = Enumerable.Range(0, settings.Documents).Select(d => new DocumentInput($"doc-{d}", Prose(d))).ToList();
            return (prose, ["Which merchants paid the harbour fees in copper during the winter months?"]);
        }
        IReadOnlyList<Evaluation.MultiHopQuestion> set;
        try
        {
            set = Evaluation.MultiHopSet.Read(settings.Passages);
        }
        catch (Exception e) when (e is FormatException or IOException)
        {
            throw new CommandFailedException($"--passages: {e.Message}");
        }
        var paragraphs = Evaluation.MultiHopSet.Corpus(set).Take(settings.Documents)
            .Select(p => new DocumentInput(p.Title, $"{p.Title}. {p.Text}")).ToList();
        return (paragraphs, set.Select(q => q.Question).Take(20).ToList());
    }

    /// <summary>The median time to embed one question, in milliseconds (after one to warm up).</summary>
    private static async Task<double> QueryLatencyAsync(IEmbedder embedder, IReadOnlyList<string> questions, CancellationToken cancellationToken)
    {
        await embedder.EmbedAsync([questions[0]], cancellationToken);
        var times = new List<double>();
        foreach (var question in questions)
        {
            var clock = Stopwatch.StartNew();
            await embedder.EmbedAsync([question], cancellationToken);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Evaluation.Statistics.Median(times);
    }

    private static async Task<IngestFigures> IngestAllAsync(CollectionContext collection, IngestOptions options, List<DocumentInput> documents,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int chunks = 0, tokens = 0;
        foreach (var document in documents)
        {
            var result = await collection.IngestAsync(document, options: options, cancellationToken: cancellationToken);
            chunks += result.Chunks;
            tokens += result.Tokens;
        }
        return new IngestFigures("index only", documents.Count, chunks, tokens, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Deterministic paragraphs of plain English-like prose, about 2,000 tokens per document.</summary>
    private static string Prose(int seed)
    {
        string[] words =
        [
            "the", "cache", "of", "every", "chunk", "is", "computed", "once", "and", "stored", "so", "that", "questions", "about",
            "contracts", "invoices", "shipping", "routes", "harbour", "fees", "river", "trade", "council", "records", "show", "which",
            "merchants", "paid", "in", "copper", "or", "salt", "during", "winter", "months", "while", "ledgers", "were", "audited",
        ];
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var paragraph = 0; paragraph < 16; paragraph++)
        {
            for (var sentence = 0; sentence < 6; sentence++)
            {
                var length = random.Next(8, 20);
                var picked = Enumerable.Range(0, length).Select(_ => words[random.Next(words.Length)]).ToArray();
                picked[0] = char.ToUpperInvariant(picked[0][0]) + picked[0][1..];
                text.Append(string.Join(' ', picked)).Append(". ");
            }
            text.Append("\n\n");
        }
        return text.ToString();
    }
}
