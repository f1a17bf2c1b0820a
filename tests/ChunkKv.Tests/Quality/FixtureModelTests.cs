using Xunit.Abstractions;
using System.Text.Json.Nodes;
using ChunkKv.Evaluation;
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

    public PromptLayout Layout { get; } = PromptLayout.FromModelDirectory(Directory);

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
            var prompt = fixture.Layout.Build(tokenizer, record.Chunks, record.Question, record.Prefix);
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
    public void A_full_prefill_answers_with_a_value_of_the_asked_kind_from_the_context()
    {
        // What the model has learned so far (see the fixture's README): the right kind of value, taken
        // from the notes; which person it belongs to, not yet. A random or untrained model does neither.
        var tokenizer = fixture.Model.Tokenizer!;
        var transformer = fixture.Model.Transformer;
        var records = fixture.Small.ToList();
        int exact = 0, ofTheKind = 0;
        foreach (var record in records)
        {
            var prompt = fixture.Layout.Build(tokenizer, record.Chunks, record.Question, record.Prefix);
            var answer = tokenizer.Decode(Generator.Generate(transformer, prompt.AllTokens(), 8, SamplingOptions.Greedy).Tokens).Trim();
            exact += answer == record.Answer ? 1 : 0;
            var cue = record.Question.StartsWith("Where was", StringComparison.Ordinal) ? "born in"
                : record.Question.StartsWith("Where does", StringComparison.Ordinal) ? "works? at"
                : "plays? the";
            var text = string.Join(' ', record.Chunks);
            ofTheKind += answer.Length > 0
                && System.Text.RegularExpressions.Regex.IsMatch(text, $@"\b{cue} {System.Text.RegularExpressions.Regex.Escape(answer)}\b") ? 1 : 0;
        }
        output.WriteLine($"exact {exact}/{records.Count}, of the asked kind from the context {ofTheKind}/{records.Count}");
        Assert.True(ofTheKind >= records.Count / 2, $"only {ofTheKind} of {records.Count} answers are a value of the asked kind from the context");
        Assert.True(exact >= 1, $"only {exact} of {records.Count} answers are exact");
    }
}
