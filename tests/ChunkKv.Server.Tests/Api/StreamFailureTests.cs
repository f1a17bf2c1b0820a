using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Server.Engine;
using Microsoft.Extensions.DependencyInjection;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// A streamed answer that fails before it starts is a plain problem (4xx with its body), never a
/// stream whose connection drops after a first chunk; the fixture model's short context makes a
/// prompt too long, and holding the engine lets a collection be deleted while a request waits.
/// </summary>
public sealed class StreamFailureTests : IAsyncLifetime, IDisposable
{
    private static readonly string Fixture = Path.Combine(ApiServer.RepoRoot(), "tests", "fixtures", "fixture-model");
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-stream-{Guid.NewGuid():N}");
    private ServerFactory _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = new ServerFactory(null, null, new Dictionary<string, string?>
        {
            ["Model"] = Fixture, ["DataDirectory"] = _data, ["ChunkTokens"] = "160", ["MaxTopK"] = "32",
        });
        _client = _server.CreateClient();
        await _client.PostAsJsonAsync("/v1/collections", new { name = "notes" });
        foreach (var file in Directory.GetFiles(Path.Combine(Fixture, "samples"), "*.txt"))
        {
            await _client.PostAsJsonAsync("/v1/collections/notes/documents", new { id = Path.GetFileNameWithoutExtension(file), text = await File.ReadAllTextAsync(file) });
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("data:", body, StringComparison.Ordinal);
        Assert.Contains(detail, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_prompt_too_long_for_the_model_is_a_400_on_both_streaming_endpoints()
    {
        // Eighteen chunks of about 128 tokens, a question of some thousand and room for 1,024 more: over the fixture model's 4,096 positions.
        var question = string.Join(' ', Enumerable.Repeat("Where was Riroko born?", 170));
        await AssertProblemAsync(await _client.PostAsJsonAsync("/v1/query", new { collection = "notes", question, top_k = 18, max_tokens = 1024, stream = true }),
            HttpStatusCode.BadRequest, "positions");
        await AssertProblemAsync(await _client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:notes", stream = true, top_k = 18, max_tokens = 1024, messages = new[] { new { role = "user", content = question } },
        }), HttpStatusCode.BadRequest, "positions");
    }

    [Fact]
    public async Task A_collection_deleted_while_a_streamed_request_waits_for_the_engine_is_a_404()
    {
        var engine = _server.Services.GetRequiredService<CollectionService>();
        await engine.Compute.WaitAsync(); // the engine is busy: both requests wait
        var query = _client.PostAsJsonAsync("/v1/query", new { collection = "notes", question = "Where was Riroko born?", stream = true });
        var chat = _client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:notes", stream = true, messages = new[] { new { role = "user", content = "Where was Riroko born?" } },
        });
        await Task.Delay(300);
        Assert.Equal(HttpStatusCode.NoContent, (await _client.DeleteAsync("/v1/collections/notes")).StatusCode);
        engine.Compute.Release();

        await AssertProblemAsync(await query, HttpStatusCode.NotFound, "notes");
        await AssertProblemAsync(await chat, HttpStatusCode.NotFound, "notes");
    }

    [Fact]
    public async Task A_streamed_answer_that_succeeds_still_ends_with_done()
    {
        var response = await _client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:notes", stream = true, max_tokens = 4, messages = new[] { new { role = "user", content = "Where was Riroko born?" } },
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"error\"", body, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
