using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// What a request may ask of the engine, and what it is told: compared methods run once each and
/// no more than the limit; OpenAI's own parameters are served or refused, never ignored; the prompt
/// tokens served from chunk caches are reported where OpenAI reports cached tokens; a question's
/// length is counted as a reader counts it.
/// </summary>
public sealed class RequestBoundsTests(ApiServer server) : IClassFixture<ApiServer>, IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        await server.Client.PostAsJsonAsync("/v1/collections", new { name = "bounds" });
        await server.Client.PostAsJsonAsync("/v1/collections/bounds/documents",
            new { id = "doc", text = "The cache holds the keys of every layer. The question reads the values back. Each chunk moves to its place." });
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_method_named_twice_in_compare_runs_once()
    {
        var response = await server.Client.PostAsJsonAsync("/v1/query", new
        {
            collection = "bounds", question = "What does the cache hold?", max_tokens = 1,
            compare = new[] { "full", "FULL", "cacheblend", "cacheblend:0.15", "reuse" },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var compared = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("compare").EnumerateArray()
            .Select(c => c.GetProperty("method").GetString()).ToList();
        Assert.Equal(["full", "cacheblend:0.15", "reuse"], compared);
    }

    [Fact]
    public async Task Chat_serves_n_of_one_and_text_responses_and_reports_the_tokens_served_from_chunk_caches()
    {
        var response = await server.Client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:bounds", n = 1, response_format = new { type = "text" }, max_tokens = 1, method = "reuse",
            messages = new[] { new { role = "user", content = "What does the cache hold?" } },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var usage = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage");
        var cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        // reuse recomputes no chunk row: every chunk token came from its cache, and the prefix and question did not.
        Assert.InRange(cached, 1, usage.GetProperty("prompt_tokens").GetInt32() - 1);
        var query = await (await server.Client.PostAsJsonAsync("/v1/query", new { collection = "bounds", question = "What does the cache hold?", max_tokens = 1, method = "reuse" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(query.GetProperty("sources").EnumerateArray().Sum(s => s.GetProperty("prompt_tokens").GetInt32()), cached);
    }

    [Fact]
    public async Task A_question_of_emoji_is_measured_in_characters_not_utf16_units()
    {
        // 3,000 emoji are 6,000 UTF-16 units but 3,000 characters: within the 4,000 limit, so the
        // question is not refused for its length (it may still be too long a prompt for the model).
        var question = string.Concat(Enumerable.Repeat("\U0001F600", 3000));
        var response = await server.Client.PostAsJsonAsync("/v1/query", new { collection = "bounds", question, max_tokens = 1 });
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("characters; the limit is", body, StringComparison.Ordinal);

        var longer = string.Concat(Enumerable.Repeat("\U0001F600", 4001));
        var refused = await server.Client.PostAsJsonAsync("/v1/query", new { collection = "bounds", question = longer, max_tokens = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("4001 characters; the limit is 4000", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
