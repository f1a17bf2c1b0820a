using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// Bad requests, one row each: every one gets its 4xx with a problem-details body, never a 500 or a
/// dropped connection. The collection "known" exists with one document; "missing" does not.
/// </summary>
public sealed class MalformedRequestTests(ApiServer server) : IClassFixture<ApiServer>, IAsyncLifetime
{
    private const string Json = "application/json";

    public async Task InitializeAsync()
    {
        await server.Client.PostAsJsonAsync("/v1/collections", new { name = "known" });
        await server.Client.PostAsJsonAsync("/v1/collections/known/documents", new { id = "doc", text = "The cache holds the keys. The keys move." });
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static readonly string LongQuestion = new('q', 4001);

    public static TheoryData<string, string, string, string?, int> Rows()
    {
        var rows = new TheoryData<string, string, string, string?, int>();
        void Add(string method, string path, string? body, int status, string contentType = Json) => rows.Add(method, path, contentType, body, status);
        string Query(string fields) => "{" + fields + "}";
        string Chat(string fields) => "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + (fields.Length > 0 ? "," + fields : "") + "}";

        // Query: malformed JSON and wrong types.
        foreach (var body in new[] { "{", "[]", "\"text\"", "{\"collection\":", "nul", "{\"collection\":\"known\",\"question\":\"q\",}", "{'collection':'known'}" })
        {
            Add("POST", "/v1/query", body, 400);
        }
        foreach (var field in new[] { "\"top_k\":\"five\"", "\"top_k\":1.5", "\"max_tokens\":\"x\"", "\"temperature\":\"hot\"", "\"stream\":\"yes\"",
                     "\"compare\":\"full\"", "\"question\":5", "\"collection\":[]", "\"method\":3", "\"top_p\":{}" })
        {
            Add("POST", "/v1/query", Query("\"collection\":\"known\",\"question\":\"q\"," + field), 400);
        }
        // Query: missing, empty, out of range, unknown.
        foreach (var fields in new[]
                 {
                     "", "\"question\":\"q\"", "\"collection\":\"known\"", "\"collection\":\"\",\"question\":\"q\"", "\"collection\":\"known\",\"question\":\"\"",
                     "\"collection\":\"known\",\"question\":\"   \"", "\"collection\":\"known\",\"question\":\"" + LongQuestion + "\"",
                 })
        {
            Add("POST", "/v1/query", Query(fields), 400);
        }
        foreach (var field in new[]
                 {
                     "\"top_k\":0", "\"top_k\":-1", "\"top_k\":33", "\"top_k\":100000", "\"max_tokens\":0", "\"max_tokens\":-5", "\"max_tokens\":65",
                     "\"temperature\":-0.1", "\"temperature\":2.5", "\"top_p\":0", "\"top_p\":1.5", "\"top_p\":-1",
                     "\"method\":\"blend\"", "\"method\":\"\"", "\"method\":\"epic\"", "\"method\":\"epic:0\"", "\"method\":\"cacheblend:2\"",
                     "\"method\":\"cacheblend:0.1:x\"", "\"method\":\"query:a\"", "\"method\":\"full:1\"", "\"method\":\"reuse:sideways\"",
                     "\"compare\":[\"nope\"]", "\"compare\":[\"full\",\"epic:-1\"]", "\"compare\":[\"\"]",
                     // More than MaxCompare (4) distinct methods: each would run the whole query again.
                     "\"compare\":[\"full\",\"reuse\",\"epic:8\",\"epic:16\",\"kvlink\"]",
                     "\"neighbours\":{\"before\":-1}", "\"neighbours\":{\"after\":5}",
                 })
        {
            Add("POST", "/v1/query", Query("\"collection\":\"known\",\"question\":\"q\"," + field), 400);
        }
        // Lone surrogates are not text: a clear 400, not a tokenizer's exception.
        Add("POST", "/v1/query", Query("\"collection\":\"known\",\"question\":\"bad \\ud800 text\""), 400);
        Add("POST", "/v1/query", Query("\"collection\":\"known\",\"question\":\"\\udfff\""), 400);
        Add("POST", "/v1/collections/known/documents", "{\"id\":\"s\",\"text\":\"half \\ud83d of an emoji\"}", 400);
        Add("POST", "/v1/collections", "{\"name\":\"s6\",\"prefix\":\"\\udc00\"}", 400);
        Add("POST", "/v1/query", Query("\"collection\":\"missing\",\"question\":\"q\""), 404);
        Add("POST", "/v1/query", Query("\"collection\":\"known\",\"question\":\"q\""), 415, "text/plain");
        Add("POST", "/v1/query", "<q/>", 415, "application/xml");

        // Collections.
        foreach (var body in new[] { "{", "{}", "{\"name\":\"\"}", "{\"name\":\"a b\"}", "{\"name\":\"../etc\"}", "{\"name\":\"" + new string('n', 65) + "\"}",
                     "{\"name\":5}", "{\"name\":\"-lead\"}", "{\"name\":\"semi;colon\"}", "[1]" })
        {
            Add("POST", "/v1/collections", body, 400);
        }
        Add("GET", "/v1/collections/missing", null, 404);

        // Documents.
        foreach (var body in new[]
                 {
                     "{", "{}", "{\"id\":\"x\"}", "{\"text\":\"t\"}", "{\"id\":\"\",\"text\":\"t\"}", "{\"id\":\"a b\",\"text\":\"t\"}",
                     "{\"id\":\"x\",\"text\":\"\"}", "{\"id\":\"x\",\"text\":\"   \"}", "{\"id\":\"x\",\"text\":\"t\",\"format\":\"pdf\"}",
                     "{\"id\":\"x\",\"text\":5}", "{\"id\":\"x\",\"text\":\"t\",\"metadata\":[1]}", "{\"id\":\"x\",\"text\":\"t\",\"metadata\":\"m\"}", "null",
                 })
        {
            Add("POST", "/v1/collections/known/documents", body, 400);
        }
        Add("POST", "/v1/collections/missing/documents", "{\"id\":\"x\",\"text\":\"t\"}", 404);
        Add("POST", "/v1/collections/known/documents", "some text", 400, "text/plain"); // no ?id=
        Add("POST", "/v1/collections/known/documents?id=a%20b", "some text", 400, "text/plain");
        Add("POST", "/v1/collections/known/documents?id=x", "", 400, "text/plain");
        Add("POST", "/v1/collections/known/documents", "<doc/>", 415, "application/xml");
        Add("GET", "/v1/collections/known/documents/none", null, 404);
        Add("GET", "/v1/collections/missing/documents/doc", null, 404);
        Add("DELETE", "/v1/collections/known/documents/none", null, 404);
        Add("DELETE", "/v1/collections/missing/documents/doc", null, 404);

        // Chat completions.
        foreach (var body in new[]
                 {
                     "{", "{}", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     "{\"model\":\"chunkkv:\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "{\"model\":\"chunkkv:known\"}",
                     "{\"model\":\"chunkkv:known\",\"messages\":[]}", "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}",
                     "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
                     "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                     "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                     "{\"model\":\"chunkkv:known\",\"messages\":\"hi\"}", "{\"model\":5,\"messages\":[]}",
                     Chat("\"max_tokens\":0"), Chat("\"max_completion_tokens\":-1"), Chat("\"max_tokens\":100000"), Chat("\"temperature\":3"),
                     Chat("\"top_p\":0"), Chat("\"stop\":5"), Chat("\"stop\":\"\""), Chat("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), Chat("\"stop\":[1]"),
                     Chat("\"stream\":\"no\""), Chat("\"method\":\"bogus\""), Chat("\"top_k\":0"), Chat("\"stream_options\":5"),
                     // OpenAI parameters not served are refused by name, never ignored.
                     Chat("\"n\":0"), Chat("\"n\":3"), Chat("\"logprobs\":true"), Chat("\"top_logprobs\":2"),
                     Chat("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"), Chat("\"tool_choice\":\"auto\""),
                     Chat("\"functions\":[{\"name\":\"f\"}]"), Chat("\"response_format\":{\"type\":\"json_object\"}"), Chat("\"n\":\"two\""),
                     "{\"model\":\"chunkkv:known\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
                 })
        {
            Add("POST", "/v1/chat/completions", body, 400);
        }
        // Collection settings.
        foreach (var body in new[] { "{\"name\":\"s1\",\"chunk_tokens\":0}", "{\"name\":\"s2\",\"chunk_tokens\":100000}",
                     "{\"name\":\"s3\",\"chunk_tokens\":\"big\"}", "{\"name\":\"s4\",\"prefix\":5}",
                     "{\"name\":\"s5\",\"prefix\":\"" + new string('p', 4001) + "\"}" })
        {
            Add("POST", "/v1/collections", body, 400);
        }
        Add("POST", "/v1/collections", "{\"name\":\"known\",\"chunk_tokens\":17}", 409); // exists with other settings
        // Listing and deleting.
        foreach (var limit in new[] { "0", "-1", "abc", "1.5", "1001", "99999999999" })
        {
            Add("GET", $"/v1/collections/known/documents?limit={limit}", null, 400);
        }
        Add("GET", "/v1/collections/missing/documents", null, 404);
        Add("DELETE", "/v1/collections/missing", null, 404);
        Add("POST", "/v1/chat/completions", "{\"model\":\"chunkkv:missing\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 404);
        Add("POST", "/v1/chat/completions", Chat(""), 415, "text/plain");
        return rows;
    }

    [Fact]
    public void The_table_has_at_least_a_hundred_rows() => Assert.True(Rows().Count >= 100, $"{Rows().Count} rows");

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task A_bad_request_gets_its_4xx_with_a_problem_body(string method, string path, string contentType, string? body, int status)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
        }
        using var response = await server.Client.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
    }
}
