using System.Text.RegularExpressions;
using ChunkKv.Evaluation;

namespace ChunkKv.Tests.Quality;

/// <summary>
/// The fixture's held-apart sets read by the task's own rule, independently of the generator that
/// wrote them: a fact is stated of a named person, or by "They", which means the last person named.
/// Every question must then have one answer, its gold one, stated where its kind says. A question
/// about a fact that was never written, or a person given two values of one attribute, would cap
/// every model's accuracy below the bars and hide what fusion loses.
/// </summary>
public sealed partial class HeldApartSetTests
{
    public static TheoryData<string> Sets => new() { "heldout-small.jsonl", "heldout.jsonl" };

    [Theory]
    [MemberData(nameof(Sets))]
    public void Every_question_has_one_answer_the_gold_one_stated_where_its_kind_says(string set)
    {
        var records = EvalRecord.ReadJsonLines(Path.Combine(FixtureModel.Directory, "eval", set));
        Assert.Equal(records.Count / 2, records.Count(r => r.Kind == "single"));
        foreach (var record in records)
        {
            var asked = AskedFact.Parse(record.Question);
            var statements = StatedFacts(record.Chunks).Where(s => s.Person == asked.Person && s.Attribute == asked.Attribute).ToList();
            Assert.True(statements.Count == 1,
                $"{record.Id}: '{record.Question}' is stated {statements.Count} times ({string.Join(", ", statements.Select(s => s.Value))})");
            var statement = statements[0];
            Assert.Equal(record.Answer, statement.Value);
            // single: the fact and the name it hangs on share a chunk; cross: the fact opens a chunk by
            // "They" and its person was named at the end of the chunk before.
            Assert.Equal(record.Kind == "cross", statement.NamedInChunk < statement.Chunk);
            if (record.Kind == "cross")
            {
                Assert.Equal(statement.NamedInChunk + 1, statement.Chunk);
            }
        }
    }

    [Fact]
    public void Every_sample_question_of_the_main_job_has_one_answer_in_the_whole_collection()
    {
        // The main job ingests every sample document into one collection, so a question must have
        // one answer across all of them, not only in its own document.
        var samples = Path.Combine(FixtureModel.Directory, "samples");
        var statements = Directory.GetFiles(samples, "*.txt")
            .SelectMany(file => StatedFacts(File.ReadAllText(file).Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            .ToList();
        using var questions = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(samples, "questions.json")));
        Assert.NotEmpty(questions.RootElement.EnumerateArray());
        foreach (var sample in questions.RootElement.EnumerateArray())
        {
            var question = sample.GetProperty("question").GetString()!;
            var asked = AskedFact.Parse(question);
            var answers = statements.Where(s => s.Person == asked.Person && s.Attribute == asked.Attribute).Select(s => s.Value).ToList();
            Assert.True(answers.Count == 1, $"'{question}' has {answers.Count} answers in the samples ({string.Join(", ", answers)})");
            Assert.Equal(sample.GetProperty("answer").GetString(), answers[0]);
        }
    }

    private sealed record Statement(string Person, string Attribute, string Value, int Chunk, int NamedInChunk);

    private sealed record AskedFact(string Person, string Attribute)
    {
        public static AskedFact Parse(string question)
        {
            var match = QuestionPattern().Match(question);
            Assert.True(match.Success, $"not a question of the task: '{question}'");
            return match.Groups["born"].Success ? new(match.Groups["born"].Value, "born")
                : match.Groups["work"].Success ? new(match.Groups["work"].Value, "work")
                : new(match.Groups["play"].Value, "play");
        }
    }

    /// <summary>Every fact the chunks state, in order, each "They" resolved to the last person named.</summary>
    private static IEnumerable<Statement> StatedFacts(IReadOnlyList<string> chunks)
    {
        string? lastNamed = null;
        var namedInChunk = -1;
        for (var chunk = 0; chunk < chunks.Count; chunk++)
        {
            foreach (var sentence in SentenceEnd().Split(chunks[chunk]).Where(s => s.Length > 0))
            {
                if (DirectPattern().Match(sentence) is { Success: true } direct)
                {
                    (lastNamed, namedInChunk) = (direct.Groups["name"].Value, chunk);
                    yield return new(lastNamed, AttributeOf(direct.Groups["verb"].Value), direct.Groups["value"].Value, chunk, chunk);
                }
                else if (PronounPattern().Match(sentence) is { Success: true } pronoun)
                {
                    Assert.True(lastNamed is not null, $"'{sentence}' has no one to refer to");
                    yield return new(lastNamed!, AttributeOf(pronoun.Groups["verb"].Value), pronoun.Groups["value"].Value, chunk, namedInChunk);
                }
                else if (IntroductionPattern().Match(sentence) is { Success: true } introduction)
                {
                    (lastNamed, namedInChunk) = (introduction.Groups["name"].Value, chunk);
                }
            }
        }
    }

    private static string AttributeOf(string verb) => verb switch
    {
        "was born in" or "were born in" => "born",
        "works at" or "work at" => "work",
        _ => "play",
    };

    [GeneratedRegex(@"\.(?:\s+|$)")]
    private static partial Regex SentenceEnd();

    [GeneratedRegex(@"^(?<name>[A-Z][a-z]+) (?<verb>was born in|works at|plays the) (?<value>\w+)$")]
    private static partial Regex DirectPattern();

    [GeneratedRegex(@"^They (?<verb>were born in|work at|play the) (?<value>\w+)$")]
    private static partial Regex PronounPattern();

    [GeneratedRegex(@"^(Later we met|The next guest was|Everyone waited for|The letter was signed by|A new member joined,|The last speaker was) (?<name>[A-Z][a-z]+)$")]
    private static partial Regex IntroductionPattern();

    [GeneratedRegex(@"^(Where was (?<born>\w+) born|Where does (?<work>\w+) work|What does (?<play>\w+) play)\?$")]
    private static partial Regex QuestionPattern();
}
