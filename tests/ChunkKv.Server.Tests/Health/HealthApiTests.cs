using System.Net;
using System.Text.Json;
using ChunkKv.Testing;

namespace ChunkKv.Server.Tests.Health;

public sealed class HealthApiTests : IAsyncLifetime
{
    // Nothing listens on port 1 of loopback: a store that is configured but down.
    private const string DeadPostgres = "Host=127.0.0.1;Port=1;Username=chunkkv;Database=chunkkv;Timeout=2";
    private const string DeadRedis = "127.0.0.1:1";

    private TestDatabase _db = null!;

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();
    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Reports_both_stores_healthy_with_pgvector_and_the_schema_the_server_migrated_to()
    {
        await using var server = new ServerFactory(_db.ConnectionString, TestServices.Redis);
        using var client = server.CreateClient();

        // Migrations run in the background at start-up; give them a few seconds.
        JsonElement health = default;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var response = await client.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            if (SchemaVersion(health) == Schema.Newest)
            {
                break;
            }
            await Task.Delay(200);
        }

        Assert.Equal("healthy", health.GetProperty("status").GetString());
        var postgres = health.GetProperty("checks").GetProperty("postgres");
        Assert.Equal("healthy", postgres.GetProperty("status").GetString());
        Assert.StartsWith("0.8", postgres.GetProperty("data").GetProperty("pgvector").GetString());
        Assert.Equal(Schema.Newest, SchemaVersion(health));
        var redis = health.GetProperty("checks").GetProperty("redis");
        Assert.Equal("healthy", redis.GetProperty("status").GetString());
        Assert.True(redis.GetProperty("data").GetProperty("ping_ms").GetDouble() >= 0);
    }

    [Fact]
    public async Task Redis_down_is_degraded_not_failed()
    {
        await using var server = new ServerFactory(_db.ConnectionString, DeadRedis);
        using var client = server.CreateClient();

        var response = await client.GetAsync("/health");
        var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("degraded", health.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
        Assert.Equal("healthy", health.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Postgres_down_is_unhealthy_with_503()
    {
        await using var server = new ServerFactory(DeadPostgres, TestServices.Redis);
        using var client = server.CreateClient();

        var response = await client.GetAsync("/health");
        var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unhealthy", health.GetProperty("status").GetString());
        var postgres = health.GetProperty("checks").GetProperty("postgres");
        Assert.Contains("unreachable", postgres.GetProperty("description").GetString());
    }

    [Fact]
    public async Task Without_configured_stores_the_server_is_healthy_and_says_so()
    {
        await using var server = new ServerFactory(postgres: null, redis: null);
        using var client = server.CreateClient();

        var response = await client.GetAsync("/health");
        var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("not configured", health.GetProperty("checks").GetProperty("postgres").GetProperty("description").GetString());
        Assert.Contains("not configured", health.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString());
    }

    [Fact]
    public async Task Unknown_routes_answer_404_with_a_problem_details_body()
    {
        await using var server = new ServerFactory(postgres: null, redis: null);
        using var client = server.CreateClient();

        var response = await client.GetAsync("/no-such-route");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(404, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Serves_its_openapi_document()
    {
        await using var server = new ServerFactory(postgres: null, redis: null);
        using var client = server.CreateClient();

        var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json")).RootElement;

        Assert.StartsWith("3.", document.GetProperty("openapi").GetString());
        Assert.Contains("ChunkKv", document.GetProperty("info").GetProperty("title").GetString());
    }

    private static int SchemaVersion(JsonElement health) =>
        health.GetProperty("checks").GetProperty("postgres").GetProperty("data") is { ValueKind: JsonValueKind.Object } data
            ? data.GetProperty("schema_version").GetInt32()
            : 0;
}
