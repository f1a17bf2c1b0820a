using Xunit.Abstractions;
using System.Text.Json.Nodes;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Fusion;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Pipeline;

namespace ChunkKv.Tests.Quality;

/// <summary>The trained fixture model (tests/fixtures/fixture-model), loaded once for the class.</summary>
public sealed class FixtureModel : IDisposable
{
    public static string Directory { get; } = Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "fixture-model");

    public LanguageModel Model { get; } = LanguageModel.Load(Directory);

    public IReadOnlyList<EvalRecord> Small { get; } = EvalRecord.ReadJsonLines(Path.Combine(Directory, "eval", "heldout-small.jsonl"));

    /// <summary>The hard set (single, cross, mid, twohop), read once.</summary>
    public IReadOnlyList<EvalRecord> Hard { get; } = EvalRecord.ReadJsonLines(Path.Combine(Directory, "eval", "heldout-hard.jsonl"));

    /// <summary>The prompt of a held-apart record, as a collection with the record's prefix makes it.</summary>
    public FusionPrompt Prompt(EvalRecord record) =>
        new ChunkKvRuntime(Model, new KvStore([new MemoryTier(1 << 20)]), KvCodec.Create(KvCodecId.F16))
            .Collection("", new CollectionSettings(Prefix: record.Prefix)).Prompt(record.Chunks, record.Question);

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// The fixture through the engine: the same tokens as the trainer, the same logits as the trainer's
/// own forward pass (recorded in reference.json), and answers to held-apart questions.
/// </summary>
public sealed class FixtureModelTests(FixtureModel fixture, ITestOutputHelper output) : IClassFixture<FixtureModel>
{
    private static JsonArray ReferencePrompts() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureModel.Directory, "reference.json")))!["prompts"]!.AsArray();

    private static int[] Ids(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    [Fact]
    public void The_engine_tokenizes_the_layout_as_the_trainer_did()
    {
        var tokenizer = fixture.Model.Tokenizer!;
        foreach (var reference in ReferencePrompts())
        {
            var record = fixture.Small.Single(r => r.Id == reference!["id"]!.GetValue<string>());
            var prompt = fixture.Prompt(record);
            Assert.Equal(Ids(reference!["prefix_ids"]), prompt.Prefix);
            Assert.Equal(reference["chunk_ids"]!.AsArray().Select(Ids), prompt.Chunks);
            Assert.Equal(Ids(reference["question_ids"]), prompt.Question);
        }
    }

    [Fact]
    public void The_engine_logits_equal_the_trainers_forward_pass()
    {
        var transformer = fixture.Model.Transformer;
        var worst = 0f;
        foreach (var reference in ReferencePrompts())
        {
            int[] ids = [.. Ids(reference!["prefix_ids"]), .. reference["chunk_ids"]!.AsArray().SelectMany(Ids), .. Ids(reference["question_ids"])];
            var logits = transformer.Prefill(ids, transformer.NewSequence(ids.Length));
            var expected = reference["last_logits"]!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
            Assert.Equal(expected.Length, logits.Length);
            worst = Math.Max(worst, logits.Zip(expected, (a, b) => MathF.Abs(a - b)).Max());
        }
        output.WriteLine($"max |engine - trainer| over the last positions: {worst:E2}");
        Assert.True(worst <= 1e-3f, $"max abs logit difference {worst}");
    }

    [Fact]
    public void A_full_prefill_answers_held_apart_questions_of_both_kinds()
    {
        // Greedy answers through the engine, exact match against the gold answer, per kind. The floors
        // sit below what the committed checkpoint measured on this set (its README): a model that lost
        // the lookup, or a layout or engine change that broke it, falls to chance (a few per cent).
        var tokenizer = fixture.Model.Tokenizer!;
        var transformer = fixture.Model.Transformer;
        foreach (var (kind, floor) in new[] { ("single", SingleFloor), ("cross", CrossFloor) })
        {
            var records = fixture.Small.Where(r => r.Kind == kind).ToList();
            var exact = records.Count(record =>
            {
                var prompt = fixture.Prompt(record);
                var answer = tokenizer.Decode(Generator.Generate(transformer, prompt.AllTokens(), 8, SamplingOptions.Greedy).Tokens).Trim();
                return answer == record.Answer;
            });
            output.WriteLine($"{kind}: exact {exact}/{records.Count}");
            Assert.True(exact >= floor * records.Count, $"{kind}: only {exact} of {records.Count} answers are exact (floor {floor:P0})");
        }
    }

    // Measured: 50 of 50 of each kind (the bars on the whole held-apart set are 95 % and 80 %).
    private const double SingleFloor = 0.94;
    private const double CrossFloor = 0.90;
}
