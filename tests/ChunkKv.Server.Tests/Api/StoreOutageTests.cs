using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Testing;

namespace ChunkKv.Server.Tests.Api;

/// <summary>What a client sees when a store is down: Redis down costs nothing but speed; PostgreSQL down is a clear 503.</summary>
public sealed class StoreOutageTests : IDisposable
{
    // Nothing listens on port 1 of loopback.
    private const string DeadPostgres = "Host=127.0.0.1;Port=1;Username=chunkkv;Database=chunkkv;Timeout=2";
    private const string DeadRedis = "127.0.0.1:1";
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-outage-{Guid.NewGuid():N}");

    private ServerFactory Server(string? postgres, string? redis) => new(postgres, redis, new Dictionary<string, string?>
    {
        ["Model"] = ApiServer.Model,
        ["DataDirectory"] = _data,
        ["ChunkTokens"] = "48",
        ["MigrateOnStart"] = "false",
    });

    [Fact]
    public async Task With_Redis_down_documents_are_ingested_and_questions_answered()
    {
        await using var server = Server(postgres: null, redis: DeadRedis);
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/collections", new { name = "docs" })).StatusCode);
        var added = await client.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "a", text = "The cache keeps the keys. The keys move to their place." });
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);

        var response = await client.PostAsJsonAsync("/v1/query", new { collection = "docs", question = "What moves?", max_tokens = 3 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sources = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("sources");
        Assert.All(sources.EnumerateArray(), s => Assert.Equal("hit", s.GetProperty("cache").GetString())); // from memory
    }

    [Fact]
    public async Task With_PostgreSQL_down_requests_get_a_503_problem()
    {
        await using var server = Server(postgres: DeadPostgres, redis: null);
        using var client = server.CreateClient();

        foreach (var response in new[]
                 {
                     await client.PostAsJsonAsync("/v1/collections", new { name = "docs" }),
                     await client.PostAsJsonAsync("/v1/query", new { collection = "docs", question = "What moves?" }),
                     await client.GetAsync("/v1/models"),
                 })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("retrieval database", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task While_the_database_is_not_migrated_yet_requests_get_a_503_with_retry_after_then_work()
    {
        await using var db = await TestDatabase.CreateAsync();
        var real = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString);
        await using var link = new TcpSwitch(real.Host!, real.Port); // off: the database is not reachable at start-up
        var through = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Port = link.Port, Timeout = 2 };
        await using var server = new ServerFactory(through.ConnectionString, null, new Dictionary<string, string?>
        {
            ["Model"] = ApiServer.Model, ["DataDirectory"] = _data,
        });
        using var client = server.CreateClient();

        var early = await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
        Assert.Equal("2", early.Headers.RetryAfter?.ToString());
        Assert.Contains("not migrated yet", await early.Content.ReadAsStringAsync());

        link.On(); // the migration's next attempt (5 s later) reaches it
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage created;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "the server never became ready");
            await Task.Delay(250);
            created = await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        }
        while (created.StatusCode == HttpStatusCode.ServiceUnavailable);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
