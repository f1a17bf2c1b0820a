using ChunkKv.Testing;

namespace ChunkKv.Cli.Tests;

public sealed class CliAppTests
{
    [Fact]
    public async Task An_unknown_command_is_a_usage_error_that_lists_the_commands()
    {
        var (code, _, error) = await Cli.RunAsync("frobnicate");

        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("unknown command 'frobnicate'", error);
        Assert.Contains("migrate", error);
    }

    [Fact]
    public async Task Stray_positional_arguments_are_a_usage_error()
    {
        var (code, _, error) = await Cli.RunAsync("migrate", "oops");

        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("chunkkv migrate: Unrecognized command or argument 'oops'", error);
    }

    [Theory]
    [InlineData("--modle", "Unrecognized command or argument '--modle'")]   // a typo is an error, not ignored
    [InlineData("--ids", "Required argument missing for option: '--ids'")]  // an option without its value
    public async Task An_unknown_option_or_a_missing_value_is_a_usage_error(string option, string message)
    {
        var (code, output, error) = await Cli.RunAsync("logits", "--model", "m", option);

        Assert.Equal(CliApp.Usage, code);
        Assert.Contains(message, error);
        Assert.Equal("", output);
    }

    /// <summary>One parse contract: a value a verb cannot read is a usage error naming the option, before any file or model is touched.</summary>
    [Theory]
    [InlineData("unknown codec 'foo'", "eval", "--model", "no-such-model", "--dataset", "no-such.jsonl", "--methods", "full", "--codec", "foo")]
    [InlineData("'bogus' is not a fusion method", "eval", "--model", "no-such-model", "--dataset", "no-such.jsonl", "--methods", "full,bogus")]
    [InlineData("unknown codec 'fp8'", "bench", "ttft", "--codec", "fp8")]
    [InlineData("unknown model shape 'tiny-nothing'", "bench", "ttft", "--shape", "tiny-nothing")]
    [InlineData("--weights: weights must be one of auto|f32|bf16|f16|q8, not 'int3'", "bench", "ttft", "--weights", "int3")]
    [InlineData("fusion method 'cacheblend:2': '2' is not a ratio", "fuse", "--model", "no-such-model", "--chunks", "1,2", "--question-ids", "3", "--method", "cacheblend:2")]
    [InlineData("unknown model shape 'huge'", "random-model", "--shape", "huge", "--out", "no-such-folder")]
    public async Task A_value_that_does_not_parse_is_a_usage_error(string message, params string[] arguments)
    {
        var (code, output, error) = await Cli.RunAsync(arguments);

        Assert.Equal(CliApp.Usage, code);
        Assert.Contains(message, error);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task A_flag_never_takes_the_next_word_and_a_required_option_is_named()
    {
        // "--no-special" is a flag: "extra" after it is a stray word, not its value.
        var (code, _, error) = await Cli.RunAsync("tokenize", "--model", "m", "--text", "hi", "--no-special", "extra");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("Unrecognized command or argument 'extra'", error);

        (code, _, error) = await Cli.RunAsync("tokenize", "--text", "hi");
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("Option '--model' is required", error);
    }

    [Fact]
    public async Task Every_verb_has_help_that_lists_its_options()
    {
        var (code, output, _) = await Cli.RunAsync("bench", "ttft", "--help");

        Assert.Equal(CliApp.Ok, code);
        foreach (var option in new[] { "--chunks", "--chunk-tokens", "--methods", "--store", "--json" })
        {
            Assert.Contains(option, output);
        }
        var (rootCode, rootHelp, _) = await Cli.RunAsync("--help");
        Assert.Equal(CliApp.Ok, rootCode);
        Assert.Contains("serve", rootHelp);
        Assert.Contains("bench", rootHelp);
    }

    [Fact]
    public async Task Migrate_applies_then_reports_the_schema_up_to_date()
    {
        await using var db = await TestDatabase.CreateAsync();

        var first = await Cli.RunAsync("migrate", "--postgres", db.ConnectionString);
        var second = await Cli.RunAsync("migrate", "--postgres", db.ConnectionString);

        Assert.Equal(CliApp.Ok, first.Code);
        Assert.Contains("applied 0001_initial_schema", first.Output);
        Assert.Equal(CliApp.Ok, second.Code);
        Assert.Contains("schema up to date", second.Output);
    }

    [Fact]
    public async Task Migrate_against_an_unreachable_server_fails_with_a_clear_message()
    {
        var (code, _, error) = await Cli.RunAsync("migrate", "--postgres", "Host=127.0.0.1;Port=1;Username=x;Timeout=2");

        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("cannot reach PostgreSQL", error);
    }
}
