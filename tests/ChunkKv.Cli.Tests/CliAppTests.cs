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
        Assert.Contains("unexpected argument 'oops'", error);
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
