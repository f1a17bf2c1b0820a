using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Testing;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// Two server processes' worth of servers on one PostgreSQL and one Redis, each with its own local
/// tiers: what one ingests, the other finds and answers from, its chunk caches served from Redis.
/// </summary>
public sealed class SharedStoresTests : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private readonly List<string> _folders = [];

    public async Task InitializeAsync() => _db = await TestDatabase.CreateAsync();

    private ServerFactory Server()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chunkkv-shared-{Guid.NewGuid():N}");
        _folders.Add(folder);
        return new ServerFactory(_db.ConnectionString, TestServices.Redis, new Dictionary<string, string?>
        {
            ["Model"] = ApiServer.Model,
            ["DataDirectory"] = folder,
            ["ChunkTokens"] = "48",
        });
    }

    [Fact]
    public async Task What_one_server_ingests_another_answers_with_caches_from_Redis()
    {
        await using var first = Server();
        await using var second = Server();
        using var a = first.CreateClient();
        using var b = second.CreateClient();
        await Schema.WaitForNewestAsync(a);
        await Schema.WaitForNewestAsync(b);
        var collection = $"shared-{Guid.NewGuid():N}"[..16]; // Redis is shared by every test run: names of their own

        Assert.Equal(HttpStatusCode.Created, (await a.PostAsJsonAsync("/v1/collections", new { name = collection })).StatusCode);
        var text = $"Run {Guid.NewGuid():N} keeps its keys. The cache of layer seven holds the values. The question reads them back.";
        Assert.Equal(HttpStatusCode.Created, (await a.PostAsJsonAsync($"/v1/collections/{collection}/documents", new { id = "notes", text })).StatusCode);

        var models = await b.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Contains(models.GetProperty("data").EnumerateArray(), m => m.GetProperty("id").GetString() == $"chunkkv:{collection}");
        var response = await b.PostAsJsonAsync("/v1/query", new { collection, question = "What does layer seven hold?", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sources = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sources").EnumerateArray().ToList();
        Assert.NotEmpty(sources);
        // The second server never computed these: its memory and disk tiers were empty, so the hits came from Redis.
        Assert.All(sources, s => Assert.Equal("hit", s.GetProperty("cache").GetString()));
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        foreach (var folder in _folders.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
