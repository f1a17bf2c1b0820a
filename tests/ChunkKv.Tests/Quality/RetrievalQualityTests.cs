using ChunkKv.Caching.Codecs;
using ChunkKv.Chunking;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Retrieval.Migrations;
using ChunkKv.Testing;
using Xunit.Abstractions;

namespace ChunkKv.Tests.Quality;

/// <summary>
/// Recall@5 on <see cref="FactCorpus"/> per index provider and embedder: a question counts as
/// found when a chunk holding its answer is among the first five. The floors sit a margin below
/// what was measured, so a regression in chunking, embedding or search fails here.
/// </summary>
public sealed class RetrievalQualityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("embedded", "hashing", SearchMode.Vector, 0.90)]
    [InlineData("pgvector", "hashing", SearchMode.Vector, 0.90)]
    [InlineData("pgvector", "hashing", SearchMode.Hybrid, 0.90)]
    [InlineData("embedded", "engine", SearchMode.Vector, 0.35)]
    [InlineData("pgvector", "engine", SearchMode.Vector, 0.35)]
    public async Task Recall_at_5_stays_above_its_floor(string provider, string embedderName, SearchMode mode, double floor)
    {
        var (documents, questions) = FactCorpus.Build(countries: 30, seed: 2026);
        using var model = ModelFixtures.TinyQwen3();
        // The model has random weights: its layers scramble the residual stream, so the final states
        // retrieve at chance (0.05 here, chance 0.03); the token embeddings (layer 0) still carry the words.
        IEmbedder embedder = embedderName == "engine" ? new EngineEmbedder(model, layers: 0) : new HashingEmbedder();
        await using var db = provider == "pgvector" ? await TestDatabase.CreateAsync() : null;
        var folder = Fixtures.TempDirectory("quality");
        IChunkIndex index = db is null ? EmbeddedChunkIndex.Open(folder) : new PgVectorChunkIndex(db.DataSource);
        if (db is not null)
        {
            await new MigrationRunner(db.DataSource).ApplyAsync();
        }
        try
        {
            var chunker = new Chunker(model.Tokenizer!, new ChunkingOptions { TargetTokens = 64 });
            var pipeline = new IngestPipeline(chunker, embedder, index, ChunkCacheKeys.For(model, KvCodec.Create(KvCodecId.F16)));
            foreach (var (id, text) in documents)
            {
                await pipeline.IngestAsync("facts", new DocumentInput(id, text, DocumentFormat.Markdown));
            }

            var found = 0;
            foreach (var question in questions)
            {
                var vector = (await embedder.EmbedAsync([question.Text]))[0];
                var hits = await index.SearchAsync("facts", new SearchRequest(vector, Limit: 5, mode, question.Text));
                found += hits.Any(h => h.Content.Contains(question.Answer, StringComparison.Ordinal)) ? 1 : 0;
            }
            var recall = (double)found / questions.Count;

            output.WriteLine($"recall@5 {provider}/{embedderName}/{mode}: {recall:F3} ({found}/{questions.Count})");
            Assert.True(recall >= floor, $"recall@5 {recall:F3} fell below {floor}");
        }
        finally
        {
            (index as IDisposable)?.Dispose();
            Directory.Delete(folder, recursive: true);
        }
    }
}
