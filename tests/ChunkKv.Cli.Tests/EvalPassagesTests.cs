using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Cli.Tests;

/// <summary><c>eval --passages N</c>: a paper's set whose prompts are longer than the model's positions runs on its first N passages.</summary>
public sealed class EvalPassagesTests : IDisposable
{
    private static readonly string Fixture = Path.Combine(Cli.RepoRoot(), "tests", "fixtures", "fixture-model");
    private readonly string _set = Path.Combine(Path.GetTempPath(), $"chunkkv-passages-{Guid.NewGuid():N}.json");

    [Fact]
    public async Task A_set_too_long_for_the_model_runs_on_its_first_passages()
    {
        // Three passages of English (the fixture's tokenizer spells it nearly letter by letter): past its 4096 positions together, within them alone.
        var passage = string.Join(" ", Enumerable.Repeat("The museum opened a new wing last spring.", 180));
        var record = new JsonObject
        {
            ["question"] = "When did the museum open a wing?",
            ["answers"] = new JsonArray("last spring"),
            ["ctxs"] = new JsonArray(Enumerable.Range(1, 3).Select(i => (JsonNode)new JsonObject { ["title"] = $"Museum {i}", ["text"] = passage }).ToArray()),
        };
        await File.WriteAllTextAsync(_set, new JsonArray(record).ToJsonString());

        var (code, _, error) = await Cli.RunAsync("eval", "--model", Fixture, "--dataset", _set, "--methods", "full", "--max-tokens", "2");
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("positions", error);

        (code, var output, error) = await Cli.RunAsync("eval", "--model", Fixture, "--dataset", _set, "--methods", "full,reuse", "--max-tokens", "2",
            "--passages", "1", "--json");
        Assert.True(code == CliApp.Ok, error);
        var scores = JsonDocument.Parse(output).RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, scores.Count);
        Assert.All(scores, s => Assert.Equal(1, s.GetProperty("questions").GetInt32()));
    }

    public void Dispose() => File.Delete(_set);
}
