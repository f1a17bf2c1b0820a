using System.Text.Json.Nodes;

namespace ChunkKv.Cli.Tests;

/// <summary><c>chunkkv calibrate</c> on the fixture model and a few of its held-apart prompts.</summary>
public sealed class CalibrateCommandTests
{
    private static readonly string Fixture = Path.Combine(Cli.RepoRoot(), "tests", "fixtures", "fixture-model");
    private static readonly string Small = Path.Combine(Fixture, "eval", "heldout-small.jsonl");

    [Fact]
    public async Task Prints_each_ladder_with_the_smallest_budget_that_meets_the_target_and_the_default()
    {
        var (code, output, error) = await Cli.RunAsync("calibrate", "--model", Fixture, "--dataset", Small, "--limit", "3", "--orders", "2", "--json");
        Assert.True(code == CliApp.Ok, error);
        var result = JsonNode.Parse(output)!;
        Assert.Equal(6, result["prompts"]!.GetValue<int>());
        var families = result["methods"]!.AsArray().Select(f => f!).ToList();
        Assert.Equal(["reuse", "epic", "cacheblend", "cachecraft", "query"], families.Select(f => f["family"]!.GetValue<string>()));
        foreach (var family in families)
        {
            var ladder = family["ladder"]!.AsArray().Select(r => r!).ToList();
            var first = ladder.FirstOrDefault(r => r["meets"]!.GetValue<bool>());
            Assert.Equal(first?["method"]!.GetValue<string>(), family["smallest"]?.GetValue<string>());
        }
        Assert.False(string.IsNullOrEmpty(result["default"]?.GetValue<string>()));
    }

    [Fact]
    public async Task Bad_targets_and_missing_sets_are_refused()
    {
        var (code, _, error) = await Cli.RunAsync("calibrate", "--model", Fixture, "--dataset", Small, "--agreement", "1.5");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("--agreement", error, StringComparison.Ordinal);
        (code, _, error) = await Cli.RunAsync("calibrate", "--model", Fixture, "--dataset", "/nonexistent/set.json");
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
    }
}
