using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace ChunkKv.Server.Tests.Api;

/// <summary>The /v1 API through HTTP: collections, documents, query (plain, streamed, compared), the OpenAI-compatible chat.</summary>
public sealed class ApiTests(ApiServer server) : IClassFixture<ApiServer>
{
    private HttpClient Client => server.Client;

    private static string Prose(int sentences, int seed)
    {
        var random = new Random(seed);
        string[] subjects = ["The cache", "Layer seven", "The retriever", "Each chunk", "The question", "A key"];
        string[] verbs = ["holds", "moves", "keeps", "reads", "fuses", "finds"];
        string[] objects = ["the values", "its position", "the prefix", "a new token", "the answer", "every layer"];
        return string.Join(' ', Enumerable.Range(0, sentences).Select(_ =>
            $"{subjects[random.Next(subjects.Length)]} {verbs[random.Next(verbs.Length)]} {objects[random.Next(objects.Length)]}."));
    }

    private async Task<string> CollectionWithDocumentsAsync()
    {
        var name = $"docs-{Guid.NewGuid():N}"[..20];
        Assert.Equal(HttpStatusCode.Created, (await Client.PostAsJsonAsync("/v1/collections", new { name })).StatusCode);
        var added = await Client.PostAsJsonAsync($"/v1/collections/{name}/documents", new { id = "one", text = Prose(40, 1), metadata = new { team = "kv" } });
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        var plain = await Client.PostAsync($"/v1/collections/{name}/documents?id=two", new StringContent(Prose(30, 2), Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.Created, plain.StatusCode);
        return name;
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task Collections_are_created_once_and_read_back()
    {
        var name = $"c-{Guid.NewGuid():N}"[..12];
        Assert.Equal(HttpStatusCode.Created, (await Client.PostAsJsonAsync("/v1/collections", new { name })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsJsonAsync("/v1/collections", new { name })).StatusCode);
        var got = await JsonAsync(await Client.GetAsync($"/v1/collections/{name}"));
        Assert.Equal(name, got.GetProperty("name").GetString());
        var models = await JsonAsync(await Client.GetAsync("/v1/models"));
        Assert.Contains(models.GetProperty("data").EnumerateArray(), m => m.GetProperty("id").GetString() == $"chunkkv:{name}");
    }

    [Fact]
    public async Task A_collection_with_its_own_prefix_and_chunk_size_chunks_and_answers_in_them()
    {
        var name = $"t-{Guid.NewGuid():N}"[..12];
        var created = await Client.PostAsJsonAsync("/v1/collections", new { name, prefix = "Use only these notes.\n\n", chunk_tokens = 24 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var view = await JsonAsync(created);
        Assert.Equal(("Use only these notes.\n\n", 24), (view.GetProperty("prefix").GetString(), view.GetProperty("chunk_tokens").GetInt32()));
        var plain = await JsonAsync(await Client.PostAsJsonAsync("/v1/collections", new { name = name + "p" }));
        Assert.True(plain.GetProperty("chunk_tokens").GetInt32() > 24); // the server's default

        var text = Prose(20, 4);
        var small = await JsonAsync(await Client.PostAsJsonAsync($"/v1/collections/{name}/documents", new { id = "d", text }));
        var large = await JsonAsync(await Client.PostAsJsonAsync($"/v1/collections/{name}p/documents", new { id = "d", text }));
        Assert.True(small.GetProperty("chunks").GetInt32() > large.GetProperty("chunks").GetInt32());

        // The caches were computed after the collection's prefix, and the query's prompt starts with it: every chunk hits.
        var answer = await JsonAsync(await Client.PostAsJsonAsync("/v1/query", new { collection = name, question = "What does the cache hold?", max_tokens = 2 }));
        Assert.All(answer.GetProperty("sources").EnumerateArray(), source => Assert.Equal("hit", source.GetProperty("cache").GetString()));

        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsJsonAsync("/v1/collections", new { name })).StatusCode); // as it is
        Assert.Equal(HttpStatusCode.Conflict, (await Client.PostAsJsonAsync("/v1/collections", new { name, chunk_tokens = 32 })).StatusCode);
    }

    [Fact]
    public async Task Documents_are_listed_in_pages_and_a_deleted_collection_is_gone_with_them()
    {
        var name = await CollectionWithDocumentsAsync();
        Assert.Equal(HttpStatusCode.Created, (await Client.PostAsJsonAsync($"/v1/collections/{name}/documents", new { id = "three", text = Prose(5, 3) })).StatusCode);

        var first = await JsonAsync(await Client.GetAsync($"/v1/collections/{name}/documents?limit=2"));
        Assert.Equal(["one", "three"], first.GetProperty("documents").EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        Assert.Equal("three", first.GetProperty("next_after").GetString());
        var last = await JsonAsync(await Client.GetAsync($"/v1/collections/{name}/documents?limit=2&after=three"));
        var two = Assert.Single(last.GetProperty("documents").EnumerateArray());
        Assert.Equal(("two", "ready"), (two.GetProperty("id").GetString(), two.GetProperty("status").GetString()));
        Assert.Equal(JsonValueKind.Null, last.GetProperty("next_after").ValueKind);
        Assert.Equal(HttpStatusCode.BadRequest, (await Client.GetAsync($"/v1/collections/{name}/documents?limit=0")).StatusCode);

        var listed = await JsonAsync(await Client.GetAsync("/v1/collections"));
        Assert.Contains(listed.GetProperty("collections").EnumerateArray(), c => c.GetProperty("name").GetString() == name);

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/collections/{name}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v1/collections/{name}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v1/collections/{name}/documents")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.DeleteAsync($"/v1/collections/{name}")).StatusCode);
        var after = await JsonAsync(await Client.GetAsync("/v1/collections"));
        Assert.DoesNotContain(after.GetProperty("collections").EnumerateArray(), c => c.GetProperty("name").GetString() == name);
        var query = await Client.PostAsJsonAsync("/v1/query", new { collection = name, question = "What moves?" });
        Assert.Equal(HttpStatusCode.NotFound, query.StatusCode);
    }

    [Fact]
    public async Task A_document_is_ingested_searchable_and_removable()
    {
        var name = await CollectionWithDocumentsAsync();
        var again = await Client.PostAsJsonAsync($"/v1/collections/{name}/documents", new { id = "one", text = Prose(40, 1), metadata = new { team = "kv" } });
        Assert.Equal("unchanged", (await JsonAsync(again)).GetProperty("outcome").GetString());

        var document = await JsonAsync(await Client.GetAsync($"/v1/collections/{name}/documents/one"));
        Assert.Equal("ready", document.GetProperty("status").GetString());
        Assert.True(document.GetProperty("chunks").GetInt32() > 2);
        Assert.Equal("kv", document.GetProperty("metadata").GetProperty("team").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/collections/{name}/documents/two")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v1/collections/{name}/documents/two")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.DeleteAsync($"/v1/collections/{name}/documents/two")).StatusCode);
    }

    [Fact]
    public async Task A_query_answers_from_cached_chunks_with_its_timings_and_a_comparison()
    {
        var name = await CollectionWithDocumentsAsync();
        var response = await Client.PostAsJsonAsync("/v1/query",
            new { collection = name, question = "What does the cache hold?", top_k = 3, method = "cacheblend:0.2", max_tokens = 6, compare = new[] { "full", "reuse" } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await JsonAsync(response);

        Assert.Equal("cacheblend:0.2", result.GetProperty("method").GetString());
        var sources = result.GetProperty("sources").EnumerateArray().ToList();
        Assert.Equal(3, sources.Count);
        Assert.All(sources, s => Assert.Equal("hit", s.GetProperty("cache").GetString()));
        Assert.Equal(result.GetProperty("recomputed_tokens").GetInt32(), sources.Sum(s => s.GetProperty("recomputed_offsets").GetArrayLength()));
        var timings = result.GetProperty("timings");
        foreach (var step in new[] { "embed", "search", "kv_load", "assemble", "recompute", "ttft", "decode" })
        {
            Assert.True(timings.GetProperty(step).GetDouble() >= 0, step);
        }
        var compared = result.GetProperty("compare").EnumerateArray().ToList();
        Assert.Equal(["full", "reuse"], compared.Select(c => c.GetProperty("method").GetString()));
        Assert.Equal(0, compared[1].GetProperty("recomputed_tokens").GetInt32());
    }

    [Fact]
    public async Task A_streamed_query_sends_the_answer_in_pieces_then_the_result()
    {
        var name = await CollectionWithDocumentsAsync();
        var response = await Client.PostAsJsonAsync("/v1/query", new { collection = name, question = "Which layer moves the key?", max_tokens = 8, stream = true });
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);

        var pieces = events.Where(e => e.StartsWith("data: ", StringComparison.Ordinal))
            .Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.GetProperty("text").GetString()).ToList();
        var done = events.Single(e => e.StartsWith("event: done", StringComparison.Ordinal));
        var result = JsonDocument.Parse(done[(done.IndexOf("data: ", StringComparison.Ordinal) + 6)..]).RootElement;
        Assert.Equal(result.GetProperty("answer").GetString(), string.Concat(pieces));
    }

    private ChatClient Chat(string collection) => new($"chunkkv:{collection}", new ApiKeyCredential("not-checked"), new OpenAIClientOptions
    {
        Endpoint = new Uri(Client.BaseAddress!, "/v1"),
        Transport = new HttpClientPipelineTransport(server.Factory.CreateClient()),
    });

    [Fact]
    public async Task The_official_OpenAI_client_chats_and_streams()
    {
        var name = await CollectionWithDocumentsAsync();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 5 };

        ChatCompletion completion = await Chat(name).CompleteChatAsync([new UserChatMessage("What keeps the prefix?")], options);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 5);

        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in Chat(name).CompleteChatStreamingAsync([new UserChatMessage("What keeps the prefix?")], options))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
            usage ??= update.Usage;
        }
        Assert.Equal(completion.Content[0].Text, streamed.ToString());
        Assert.Equal(completion.Usage.OutputTokenCount, usage?.OutputTokenCount);
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_answer_where_it_starts()
    {
        var name = await CollectionWithDocumentsAsync();
        var full = await JsonAsync(await Client.PostAsJsonAsync("/v1/chat/completions",
            new { model = $"chunkkv:{name}", messages = new[] { new { role = "user", content = "What holds the values?" } }, max_tokens = 12 }));
        var text = full.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.True(text.Length > 2, "the random model should say something");
        var stop = text[(text.Length / 2)..(text.Length / 2 + 1)];

        var cut = await JsonAsync(await Client.PostAsJsonAsync("/v1/chat/completions",
            new { model = $"chunkkv:{name}", messages = new[] { new { role = "user", content = "What holds the values?" } }, max_tokens = 12, stop }));
        var choice = cut.GetProperty("choices")[0];
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Metrics_count_queries_by_method_and_the_reference_page_is_served()
    {
        var name = await CollectionWithDocumentsAsync();
        await Client.PostAsJsonAsync("/v1/query", new { collection = name, question = "What moves?", method = "epic:3", max_tokens = 2 });

        var metrics = await Client.GetStringAsync("/metrics");
        Assert.Contains("chunkkv_ttft_seconds_count{method=\"epic:3\"}", metrics);
        Assert.Contains("chunkkv_recomputed_ratio_bucket{method=\"epic:3\"", metrics);
        Assert.Contains("chunkkv_ingested_chunks_total", metrics);
        Assert.Contains("chunkkv_cache_hits{tier=\"memory\"}", metrics);
        Assert.Contains("http_requests_received_total", metrics);

        var docs = await Client.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("openapi", await docs.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }
}
