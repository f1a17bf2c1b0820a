using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// The server's embedder is chosen by configuration and recorded with every collection it makes:
/// the same data served with another embedder refuses that collection with a 409 that says why,
/// rather than searching hashing vectors with the engine's.
/// </summary>
public sealed class EmbedderChoiceTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-embedder-{Guid.NewGuid():N}");

    private ServerFactory Server(string embedder) => new(postgres: null, redis: null, new Dictionary<string, string?>
    {
        ["Model"] = ApiServer.Model,
        ["DataDirectory"] = _data,
        ["ChunkTokens"] = "48",
        ["Embedder"] = embedder,
    });

    [Fact]
    public async Task A_collection_made_with_one_embedder_is_refused_by_a_server_with_another()
    {
        await using (var hashing = Server("hashing"))
        {
            using var client = hashing.CreateClient();
            var created = await (await client.PostAsJsonAsync("/v1/collections", new { name = "notes" })).Content.ReadFromJsonAsync<JsonElement>();
            Assert.StartsWith("hashing-v1:", created.GetProperty("embedder").GetString(), StringComparison.Ordinal);
            var added = await client.PostAsJsonAsync("/v1/collections/notes/documents", new { id = "a", text = "The cache of layer seven holds the values." });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        await using var engine = Server("engine");
        using var other = engine.CreateClient();
        var made = await (await other.PostAsJsonAsync("/v1/collections", new { name = "fresh" })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.StartsWith("engine-mean:", made.GetProperty("embedder").GetString(), StringComparison.Ordinal);

        var query = await other.PostAsJsonAsync("/v1/query", new { collection = "notes", question = "What does layer seven hold?", max_tokens = 1 });
        Assert.Equal(HttpStatusCode.Conflict, query.StatusCode);
        var problem = await query.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("embedded with hashing-v1", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var ingest = await other.PostAsJsonAsync("/v1/collections/notes/documents", new { id = "b", text = "More notes." });
        Assert.Equal(HttpStatusCode.Conflict, ingest.StatusCode);
        // Emptying it needs no embedder.
        Assert.Equal(HttpStatusCode.NoContent, (await other.DeleteAsync("/v1/collections/notes/documents/a")).StatusCode);
    }

    [Theory]
    [InlineData("bogus", "expected one of minilm, hashing, engine, openai")]
    [InlineData("openai", "EmbedderUrl")]
    public async Task An_embedder_that_cannot_be_made_is_named_at_start_up(string embedder, string message)
    {
        await using var server = Server(embedder);
        var error = Assert.ThrowsAny<Exception>(() => server.CreateClient());
        Assert.Contains(message, Flatten(error), StringComparison.Ordinal);
        await Task.CompletedTask;
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
