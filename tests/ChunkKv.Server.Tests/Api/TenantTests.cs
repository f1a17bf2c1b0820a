using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Server.Tenancy;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// Two tenants with their own API keys: neither can list, search, read or delete the other's
/// collections or documents (404s, which leak nothing), nor learn from the chunk caches that the
/// other holds a text: each tenant's caches are its own unless the deployment shares them
/// (SharedCaches). No key or an unknown key is a 401.
/// </summary>
public sealed class TenantTests : IAsyncLifetime, IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-tenants-{Guid.NewGuid():N}");
    private ServerFactory _server = null!;

    public Task InitializeAsync()
    {
        _server = Server(sharedCaches: false);
        return Task.CompletedTask;
    }

    private ServerFactory Server(bool sharedCaches) => new(null, null, new Dictionary<string, string?>
    {
        ["Model"] = ApiServer.Model,
        ["DataDirectory"] = sharedCaches ? _data + "-shared" : _data,
        ["ChunkTokens"] = "48",
        ["SharedCaches"] = sharedCaches ? "true" : "false",
        ["ApiKeys:0:Tenant"] = "acme",
        ["ApiKeys:0:Sha256"] = TenancyOptions.Hash("acme-key"),
        ["ApiKeys:1:Tenant"] = "globex",
        ["ApiKeys:1:Sha256"] = TenancyOptions.Hash("globex-key").ToUpperInvariant(), // either case
    });

    private HttpClient Client(string? key, ServerFactory? server = null)
    {
        var client = (server ?? _server).CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    private const string Text = "The cache keeps the keys of every layer. The question reads the values. Each chunk moves to its place.";

    [Fact]
    public async Task A_tenant_sees_only_its_own_collections_documents_and_caches()
    {
        using var acme = Client("acme-key");
        using var globex = Client("globex-key");
        Assert.Equal(HttpStatusCode.Created, (await acme.PostAsJsonAsync("/v1/collections", new { name = "docs" })).StatusCode);
        var first = await (await acme.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "secret", text = Text, metadata = new { owner = "acme" } }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(first.GetProperty("caches_computed").GetInt32() > 0);

        // globex: acme's collection does not exist for it.
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync("/v1/collections/docs")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync("/v1/collections/docs/documents/secret")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.DeleteAsync("/v1/collections/docs/documents/secret")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync("/v1/collections/docs/documents")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.DeleteAsync("/v1/collections/docs")).StatusCode);
        Assert.Empty((await globex.GetFromJsonAsync<JsonElement>("/v1/collections")).GetProperty("collections").EnumerateArray());
        Assert.Equal(HttpStatusCode.NotFound, (await globex.PostAsJsonAsync("/v1/query", new { collection = "docs", question = "What keeps the keys?" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.PostAsJsonAsync("/v1/chat/completions",
            new { model = "chunkkv:docs", messages = new[] { new { role = "user", content = "What keeps the keys?" } } })).StatusCode);
        var models = await globex.GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Empty(models.GetProperty("data").EnumerateArray());

        // globex's own collection of the same name holds only its document, and its caches are its own:
        // the same text computes every cache again, so nothing tells globex that acme holds it.
        Assert.Equal(HttpStatusCode.Created, (await globex.PostAsJsonAsync("/v1/collections", new { name = "docs" })).StatusCode);
        var second = await (await globex.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "mine", text = Text }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(first.GetProperty("caches_computed").GetInt32(), second.GetProperty("caches_computed").GetInt32());
        // Within a tenant, the same text is computed once.
        var again = await (await acme.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "copy", text = Text }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, again.GetProperty("caches_computed").GetInt32());
        Assert.Equal(HttpStatusCode.NoContent, (await acme.DeleteAsync("/v1/collections/docs/documents/copy")).StatusCode);
        var answer = await (await globex.PostAsJsonAsync("/v1/query", new { collection = "docs", question = "What keeps the keys?", max_tokens = 2 }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.All(answer.GetProperty("sources").EnumerateArray(), s => Assert.Equal("mine", s.GetProperty("document_id").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync("/v1/collections/docs/documents/secret")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await acme.GetAsync("/v1/collections/docs/documents/secret")).StatusCode);
        Assert.Equal(["chunkkv:docs"], (await acme.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(["secret"], (await acme.GetFromJsonAsync<JsonElement>("/v1/collections/docs/documents")).GetProperty("documents")
            .EnumerateArray().Select(d => d.GetProperty("id").GetString()));

        // A background job is its tenant's alone.
        var job = await (await acme.PostAsJsonAsync("/v1/collections/docs/documents?background=true", new { id = "later", text = Text + " Later." }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var jobId = job.GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync($"/v1/jobs/{jobId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.DeleteAsync($"/v1/jobs/{jobId}")).StatusCode);
        Assert.Empty((await globex.GetFromJsonAsync<JsonElement>("/v1/jobs")).GetProperty("jobs").EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, (await acme.GetAsync($"/v1/jobs/{jobId}")).StatusCode);

        // globex deleting its own "docs" leaves acme's, and the caches acme's chunks still use.
        Assert.Equal(HttpStatusCode.NoContent, (await globex.DeleteAsync("/v1/collections/docs")).StatusCode);
        Assert.Equal(["docs"], (await acme.GetFromJsonAsync<JsonElement>("/v1/collections")).GetProperty("collections")
            .EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        var cached = await (await acme.PostAsJsonAsync("/v1/query", new { collection = "docs", question = "What keeps the keys?", max_tokens = 2 }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.All(cached.GetProperty("sources").EnumerateArray(), s => Assert.Equal("hit", s.GetProperty("cache").GetString()));
    }

    [Fact]
    public async Task A_deployment_that_opts_in_shares_caches_between_tenants()
    {
        await using var shared = Server(sharedCaches: true);
        using var acme = Client("acme-key", shared);
        using var globex = Client("globex-key", shared);
        await acme.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        await globex.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        var first = await (await acme.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "a", text = Text })).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await globex.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "b", text = Text })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(first.GetProperty("caches_computed").GetInt32() > 0);
        Assert.Equal(0, second.GetProperty("caches_computed").GetInt32());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("wrong-key")]
    public async Task Without_a_known_key_requests_get_401(string? key)
    {
        using var client = Client(key is { Length: 0 } ? null : key);
        if (key == "")
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer ");
        }
        var response = await client.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode); // health stays open
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _server.Dispose();
        foreach (var folder in new[] { _data, _data + "-shared" }.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
