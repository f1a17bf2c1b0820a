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

namespace ChunkKv.Cli.Bench;

/// <summary>
/// Ingest throughput on generated prose: the default stack (hashing embedder, embedded index)
/// without and with KV precompute (random weights at a real shape, memory + disk tiers), on the
/// same documents in the same run. Precompute is the engine's prefill of every chunk, so its
/// figure is bounded by <c>bench prefill</c>'s tokens/s.
/// </summary>
public static class IngestBenchmark
{
    public sealed record Settings(ModelShape Shape, string TokenizerDirectory, int Documents, int TargetTokens, KvCodecId Codec, string ModelCache);

    public static async Task<IngestReport> RunAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var tokenizer = Tokenizer.FromDirectory(settings.TokenizerDirectory);
        // A shape whose vocabulary is smaller than the tokenizer's (the tiny ones) is widened to it.
        var shape = tokenizer.VocabSize <= settings.Shape.VocabSize
            ? settings.Shape
            : settings.Shape with { Name = $"{settings.Shape.Name}-vocab{tokenizer.VocabSize}", VocabSize = tokenizer.VocabSize };
        using var model = LanguageModel.Load(BenchModels.Ensure(shape, settings.ModelCache, progress, settings.TokenizerDirectory));
        var documents = Enumerable.Range(0, settings.Documents).Select(d => new DocumentInput($"doc-{d}", Prose(d))).ToList();
        var scratch = Directory.CreateTempSubdirectory("chunkkv-bench-ingest-");
        try
        {
            var codec = KvCodec.Create(settings.Codec);
            var settingsOfCollection = new CollectionSettings(ChunkTokens: settings.TargetTokens);
            CollectionContext Collection(IChunkIndex index, KvStore store) =>
                new ChunkKvRuntime(model, store, codec, PromptLayout.Default, new RetrievalStores(index, new HashingEmbedder()))
                    .Collection("bench", settingsOfCollection);

            // Without precompute: repeated on fresh indexes until a second has passed, for a steady figure.
            var without = new IngestFigures("index only", 0, 0, 0);
            var runs = 0;
            var clock = Stopwatch.StartNew();
            while (runs == 0 || clock.Elapsed < TimeSpan.FromSeconds(1))
            {
                using var index = EmbeddedChunkIndex.Open(Path.Combine(scratch.FullName, $"index-{runs++}"));
                var indexOnly = Collection(index, new KvStore([new MemoryTier(1L << 20)]));
                without = without.Add(await IngestAllAsync(indexOnly, new IngestOptions { StoreCaches = false }, documents, cancellationToken));
            }
            without = without.Average(runs);

            progress.WriteLine($"precomputing the KV caches of {without.Chunks} chunks with {shape.Name} weights ...");
            using var cachedIndex = EmbeddedChunkIndex.Open(Path.Combine(scratch.FullName, "index-kv"));
            var store = new KvStore([new MemoryTier(1L << 30), new DiskTier(Path.Combine(scratch.FullName, "kv"))]);
            var with = await IngestAllAsync(Collection(cachedIndex, store), IngestOptions.Default, documents, cancellationToken) with { Mode = $"index + KV precompute ({codec})" };
            return new IngestReport(shape.Name, settings.TargetTokens, settings.Documents, [without, with]);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
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
        return new IngestFigures("index only", chunks, tokens, clock.Elapsed.TotalSeconds);
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
