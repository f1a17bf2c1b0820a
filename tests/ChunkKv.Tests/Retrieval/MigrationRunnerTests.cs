using ChunkKv.Retrieval.Migrations;
using ChunkKv.Testing;
using Npgsql;

namespace ChunkKv.Tests.Retrieval;

public sealed class MigrationRunnerTests : IAsyncLifetime
{
    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();
    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Applies_the_shipped_migrations_once_and_a_second_run_is_a_no_op()
    {
        var shipped = Migration.Embedded();
        Assert.NotEmpty(shipped);
        Assert.Equal(1, shipped[0].Version);

        var first = await new MigrationRunner(_db.DataSource).ApplyAsync();
        var second = await new MigrationRunner(_db.DataSource).ApplyAsync();

        Assert.Equal(shipped.Select(m => m.Name), first.Applied);
        Assert.Empty(second.Applied);
        Assert.Equal(shipped.Select(m => m.Name), second.AlreadyApplied);
        Assert.Equal(shipped.Count, await _db.ScalarAsync<long>($"SELECT count(*) FROM {MigrationRunner.HistoryTable}"));
        Assert.Equal("collections", await _db.ScalarAsync<string>("SELECT to_regclass('collections')::text"));
    }

    [Fact]
    public async Task Concurrent_runners_apply_each_migration_exactly_once()
    {
        var runs = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => new MigrationRunner(_db.DataSource).ApplyAsync()));

        Assert.Equal(Migration.Embedded().Count, runs.Sum(r => r.Applied.Count));
        Assert.Equal(1, runs.Count(r => r.Applied.Count > 0));
    }

    [Fact]
    public async Task A_failing_migration_leaves_nothing_half_applied()
    {
        var migrations = Migration.Ordered([
            Migration.Parse("0001_good.sql", "CREATE TABLE good (id int);"),
            Migration.Parse("0002_bad.sql", "CREATE TABLE half (id int); INSERT INTO half VALUES (1); SELECT 1 / 0;"),
        ]);

        var error = await Assert.ThrowsAsync<MigrationException>(() => new MigrationRunner(_db.DataSource, migrations).ApplyAsync());

        Assert.Contains("0002_bad", error.Message);
        Assert.Equal("good", await _db.ScalarAsync<string>("SELECT to_regclass('good')::text"));
        Assert.Null(await _db.ScalarAsync<string>("SELECT to_regclass('half')::text"));
        Assert.Equal(1, await _db.ScalarAsync<int>($"SELECT max(version) FROM {MigrationRunner.HistoryTable}"));
    }

    [Fact]
    public async Task An_applied_migration_that_was_edited_afterwards_is_refused()
    {
        await new MigrationRunner(_db.DataSource, [Migration.Parse("0001_t.sql", "CREATE TABLE t (id int);")]).ApplyAsync();

        var edited = new MigrationRunner(_db.DataSource, [Migration.Parse("0001_t.sql", "CREATE TABLE t (id bigint);")]);

        var error = await Assert.ThrowsAsync<MigrationException>(() => edited.ApplyAsync());
        Assert.Contains("changed after it was applied", error.Message);
    }

    [Theory]
    [InlineData("1_x.txt")]
    [InlineData("initial.sql")]
    public void Badly_named_files_are_refused(string fileName) =>
        Assert.Throws<MigrationException>(() => Migration.Parse(fileName, "SELECT 1"));

    [Fact]
    public void Two_files_with_one_version_are_refused() =>
        Assert.Throws<MigrationException>(() =>
            Migration.Ordered([Migration.Parse("0001_a.sql", ""), Migration.Parse("0001_b.sql", "")]));
}
