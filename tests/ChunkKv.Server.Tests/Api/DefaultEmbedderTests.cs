using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// A server left to its defaults embeds with all-MiniLM-L6-v2, in process: it finds a passage by
/// what it means, where word hashing finds nothing to match.
/// </summary>
public sealed class DefaultEmbedderTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-default-embedder-{Guid.NewGuid():N}");

    [Fact]
    public async Task The_default_embedder_is_MiniLM_and_retrieves_by_meaning()
    {
        await using var server = new ServerFactory(postgres: null, redis: null, new Dictionary<string, string?>
        {
            ["Model"] = ApiServer.Model, ["DataDirectory"] = _data, ["ChunkTokens"] = "48", ["Embedder"] = "minilm",
        });
        using var client = server.CreateClient();
        var created = await (await client.PostAsJsonAsync("/v1/collections", new { name = "facts" })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("minilm-l6-v2:384", created.GetProperty("embedder").GetString());
        Assert.Equal(384, created.GetProperty("dimension").GetInt32());
        string[] passages =
        [
            "The harbour master charges every ship that docks a fee in copper coins.",
            "Bread rises in the oven because yeast releases carbon dioxide into the dough.",
            "The violinist tuned her instrument before the evening concert.",
        ];
        for (var i = 0; i < passages.Length; i++)
        {
            var added = await client.PostAsJsonAsync("/v1/collections/facts/documents", new { id = $"p{i}", text = passages[i] });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        // No word of the question is in the passage it asks about (vector search only: no full-text help).
        var response = await client.PostAsJsonAsync("/v1/query", new { collection = "facts", question = "Why does baking make loaves puff up?", top_k = 1, max_tokens = 1 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var source = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sources")[0];
        Assert.Equal("p1", source.GetProperty("document_id").GetString());
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
