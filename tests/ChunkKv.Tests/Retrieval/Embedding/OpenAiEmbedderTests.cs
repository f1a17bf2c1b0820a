using ChunkKv.Retrieval.Embedding;

namespace ChunkKv.Tests.Retrieval.Embedding;

/// <summary>The OpenAI-compatible client against a real HTTP server on loopback.</summary>
public sealed class OpenAiEmbedderTests
{
    private const int Dimension = 8;
    private static readonly HttpClient Http = new();

    private static OpenAiEmbedder Client(EmbeddingServer server, List<TimeSpan>? waits = null, int batchSize = 64, int maxRetries = 4) =>
        new(Http, new OpenAiEmbedderOptions
        {
            BaseUrl = server.BaseUrl, Model = "test-embed", Dimension = Dimension, ApiKey = "secret-key",
            BatchSize = batchSize, MaxRetries = maxRetries, InitialBackoff = TimeSpan.FromSeconds(1),
        })
        {
            Delay = (wait, _) => { waits?.Add(wait); return Task.CompletedTask; },
        };

    [Fact]
    public async Task Texts_go_in_batches_and_come_back_in_order_normalised()
    {
        await using var server = new EmbeddingServer((body, _) => EmbeddingServer.Embeddings(body, Dimension, reversed: true));
        var texts = Enumerable.Range(0, 150).Select(i => ((char)('A' + i % 50)).ToString() + i).ToArray();

        var vectors = await Client(server, batchSize: 64).EmbedAsync(texts);

        Assert.Equal([64, 64, 22], server.Requests.Select(r => r.Body["input"]!.AsArray().Count));
        Assert.All(server.Requests, r =>
        {
            Assert.Equal("/v1/embeddings", r.Path);
            Assert.Equal("Bearer secret-key", r.Authorization);
            Assert.Equal("test-embed", r.Body["model"]!.GetValue<string>());
        });
        for (var i = 0; i < texts.Length; i++)
        {
            // The server sent [c, 1, 0...]: normalised, the first component is c / sqrt(c² + 1).
            float c = texts[i][0];
            Assert.Equal(c / MathF.Sqrt(c * c + 1), vectors[i][0], 1e-6f);
            Assert.Equal(1 / MathF.Sqrt(c * c + 1), vectors[i][1], 1e-6f);
        }
    }

    [Fact]
    public async Task Rate_limits_and_server_errors_are_retried_with_backoff_honouring_retry_after()
    {
        await using var server = new EmbeddingServer((body, n) => n switch
        {
            0 => new EmbeddingServer.Reply(429, """{"error":{"message":"slow down"}}""", RetryAfter: "3"),
            1 => new EmbeddingServer.Reply(503, "overloaded"),
            2 => new EmbeddingServer.Reply(500, "oops"),
            _ => EmbeddingServer.Embeddings(body, Dimension),
        });
        var waits = new List<TimeSpan>();

        var vectors = await Client(server, waits).EmbedAsync(["hello"]);

        Assert.Single(vectors);
        Assert.Equal(4, server.Requests.Count);
        // Attempt n waits 1 s · 2^n unless the server says otherwise.
        Assert.Equal([TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)], waits);
    }

    [Fact]
    public async Task A_server_that_keeps_failing_gives_a_transient_error_after_the_last_retry()
    {
        await using var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(502, "bad gateway"));

        var error = await Assert.ThrowsAsync<EmbeddingException>(() => Client(server, maxRetries: 2).EmbedAsync(["x"]));

        Assert.True(error.Transient);
        Assert.Equal(3, server.Requests.Count);
        Assert.Contains("HTTP 502: bad gateway", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_request_fails_at_once_quoting_the_servers_message()
    {
        await using var server = new EmbeddingServer((_, _) =>
            new EmbeddingServer.Reply(401, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"""));

        var error = await Assert.ThrowsAsync<EmbeddingException>(() => Client(server).EmbedAsync(["x"]));

        Assert.False(error.Transient);
        Assert.Single(server.Requests);
        Assert.Contains("HTTP 401: Incorrect API key provided", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"data":[{"index":0,"embedding":[1,2,3]}]}""", "returned 3 dimensions")]
    [InlineData("""{"data":[]}""", "0 embeddings for 1 inputs")]
    [InlineData("""{"object":"list"}""", "no 'data' array")]
    [InlineData("""<html>proxy</html>""", "not an embeddings list")]
    [InlineData("""{"data":[{"index":0,"embedding":"abc"}]}""", "no 'embedding' array")]
    public async Task A_malformed_answer_is_a_clear_error(string body, string expected)
    {
        await using var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(200, body));

        var error = await Assert.ThrowsAsync<EmbeddingException>(() => Client(server).EmbedAsync(["x"]));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_is_a_transient_error()
    {
        var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(200, ""));
        await server.DisposeAsync(); // nothing listens on that port any more

        var error = await Assert.ThrowsAsync<EmbeddingException>(() => Client(server, maxRetries: 1).EmbedAsync(["x"]));

        Assert.True(error.Transient);
    }
}
