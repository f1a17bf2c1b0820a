using System.Text.RegularExpressions;
using ChunkKv.Evaluation;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Tests.Evaluation;

public sealed class EvalFilesTests
{
    [Fact]
    public void Records_are_read_from_jsonl_and_a_bad_line_is_named()
    {
        var folder = Fixtures.TempDirectory("eval-files");
        var good = Path.Combine(folder, "good.jsonl");
        File.WriteAllLines(good, [
            """{"id": "a", "kind": "single", "prefix": "P", "chunks": ["one", "two"], "question": "q?", "answer": "x"}""",
            "",
            """{"id": "b", "kind": "cross", "chunks": ["three"], "question": "r?", "answer": "y"}""",
        ]);
        var records = EvalRecord.ReadJsonLines(good);
        Assert.Equal(["a", "b"], records.Select(r => r.Id));
        Assert.Equal(["one", "two"], records[0].Chunks);
        Assert.Null(records[1].Prefix);

        var bad = Path.Combine(folder, "bad.jsonl");
        File.WriteAllLines(bad, ["""{"id": "a", "kind": "single", "chunks": ["c"], "question": "q", "answer": "x"}""", """{"id": "b", "kind": "single", "chunks": [], "question": "q", "answer": "x"}"""]);
        Assert.Contains("bad.jsonl:2", Assert.Throws<FormatException>(() => EvalRecord.ReadJsonLines(bad)).Message);
        File.WriteAllText(bad, "{not json");
        Assert.Contains("bad.jsonl:1", Assert.Throws<FormatException>(() => EvalRecord.ReadJsonLines(bad)).Message);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void The_report_has_a_row_per_score_and_a_point_per_method_and_kind()
    {
        MethodScore Score(string method, string kind, double accuracy, double ttft) => new(method, kind, 10, accuracy, 1, 0, 1, 0.1, ttft);
        var scores = new[] { Score("full", "single", 1, 0.1), Score("full", "cross", 0.9, 0.1), Score("reuse", "single", 0.95, 0.01), Score("reuse", "cross", 0.4, 0.01), Score("<b>", "cross", 0.5, 0.05) };

        var html = EvalReport.Html("fixture", scores);

        Assert.Equal(5, Regex.Count(html, "<tr><td>"));
        Assert.Equal(5, Regex.Count(html, "<circle"));
        Assert.Contains("reuse (cross): 10.0x", html);
        Assert.DoesNotContain("<b>", html); // names are escaped
    }
}
