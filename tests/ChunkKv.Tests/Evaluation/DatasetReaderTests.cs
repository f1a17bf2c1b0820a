using ChunkKv.Evaluation;
using ChunkKv.Evaluation.Datasets;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Tests.Evaluation;

/// <summary>The papers' dataset formats read into records, and every malformed file refused with its record and field named.</summary>
public sealed class DatasetReaderTests
{
    private static string Write(string name, string text)
    {
        var path = Path.Combine(Fixtures.TempDirectory("datasets"), name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string MusiqueLike = """
        [
          {"ctxs": [{"title": "Lute Guild", "text": "The guild was founded by Mara Voss."}, {"title": "", "text": "Mara Voss was born in Tarvik."}],
           "question": "Where was the founder of the Lute Guild born", "answers": ["Tarvik", "the town of Tarvik"]},
          {"ctxs": [{"title": "A", "text": "One."}], "question": "Who?", "answers": ["Nobody"]}
        ]
        """;

    [Fact]
    public void CacheBlends_list_becomes_records_with_each_passage_a_chunk()
    {
        var records = DatasetReader.Read(Write("musique_s.json", MusiqueLike));

        Assert.Equal(2, records.Count);
        var first = records[0];
        Assert.Equal(["Lute Guild\n\nThe guild was founded by Mara Voss.", "Mara Voss was born in Tarvik."], first.Chunks);
        Assert.Equal("where was the founder of the Lute Guild born?", first.Question); // CacheBlend's normalize_question
        Assert.Equal(["Tarvik", "the town of Tarvik"], first.Answers);
        Assert.Equal(AnswerMetric.F1, first.Metric);
        Assert.Equal("musique_s", first.Kind);
        Assert.Equal(DatasetReader.CacheBlendQaInstruction, first.Prefix);
        Assert.Equal("who?", records[1].Question);
    }

    [Fact]
    public void A_samsum_file_is_scored_by_rouge_l_and_keeps_its_examples_as_they_are()
    {
        var records = DatasetReader.Read(Write("samsum.json", """
            [{"ctxs": [{"title": "x", "text": "Dialogue: A: hi\nSummary: A greets."}], "question": "Dialogue: B: bye\nSummary:", "answers": ["B leaves."]}]
            """));
        Assert.Equal(AnswerMetric.RougeL, records[0].Metric);
        Assert.Equal(["Dialogue: A: hi\nSummary: A greets."], records[0].Chunks);
        Assert.Equal("Dialogue: B: bye\nSummary:", records[0].Question);
    }

    [Fact]
    public void LongBench_lines_split_at_their_passage_marks()
    {
        var path = Write("2wikimqa.jsonl", """
            {"input": "Who directed Film A?", "context": "Passage 1:\nFilm A\nFilm A is directed by Ann.\nPassage 2:\nAnn\nAnn was born in Oslo.", "answers": ["Ann"], "dataset": "2wikimqa", "_id": "q1"}
            {"input": "Summarize.", "context": "First part.\n\nSecond part.", "answers": ["Two parts."], "dataset": "gov_report", "_id": "q2"}
            """);
        var records = DatasetReader.Read(path);
        Assert.Equal(["Film A\nFilm A is directed by Ann.", "Ann\nAnn was born in Oslo."], records[0].Chunks);
        Assert.Equal(("q1", "2wikimqa", AnswerMetric.F1), (records[0].Id, records[0].Kind, records[0].Metric));
        Assert.Equal(["First part.", "Second part."], records[1].Chunks);
        Assert.Equal(AnswerMetric.RougeL, records[1].Metric);
    }

    [Fact]
    public void The_fixtures_jsonl_is_still_read_as_it_was()
    {
        var path = Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "fixture-model", "eval", "heldout-small.jsonl");
        Assert.Equal(DatasetFormat.Fixture, DatasetReader.Detect(File.ReadAllText(path)));
        var records = DatasetReader.Read(path);
        Assert.Equal(100, records.Count);
        Assert.All(records, r => Assert.Equal((AnswerMetric.Exact, r.Answer), (r.Metric, r.Answers.Single())));
    }

    [Theory]
    [InlineData("bad.json", "[{\"ctxs\": [}]", "not valid JSON")]
    [InlineData("bad.json", "[{\"question\": \"q\", \"answers\": [\"a\"]}]", "record 0: 'ctxs' is missing")]
    [InlineData("bad.json", "[{\"ctxs\": [], \"question\": \"q\", \"answers\": [\"a\"]}]", "record 0: 'ctxs' is empty")]
    [InlineData("bad.json", "[{\"ctxs\": [{\"text\": \"t\"}], \"question\": \"q\", \"answers\": [\"a\"]}, {\"ctxs\": [{\"text\": \"t\"}, {\"text\": \"\"}], \"question\": \"q\", \"answers\": [\"a\"]}]", "record 1: ctxs[1].text is empty")]
    [InlineData("bad.json", "[{\"ctxs\": [{\"text\": \"t\"}], \"answers\": [\"a\"]}]", "record 0: question is missing")]
    [InlineData("bad.json", "[{\"ctxs\": [{\"text\": \"t\"}], \"question\": \"q\", \"answers\": []}]", "record 0: answers must be a non-empty list")]
    [InlineData("lb.jsonl", "{\"input\": \"q\", \"context\": \"\", \"answers\": [\"a\"]}", "line 1: context is empty")]
    [InlineData("lb.jsonl", "{\"input\": \"q\", \"context\": \"c\", \"answers\": [\"a\"]}\n{\"input\": \"q\", \"context\": \"c\"", "line 2: not valid JSON")]
    public void A_malformed_dataset_names_the_record_and_the_field(string name, string text, string message)
    {
        var path = Write(name, text);
        var e = Assert.Throws<FormatException>(() => DatasetReader.Read(path, name.EndsWith(".jsonl", StringComparison.Ordinal) ? DatasetFormat.LongBench : null));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
