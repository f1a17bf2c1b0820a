using ChunkKv.Retrieval.Embedding;

namespace ChunkKv.Tests.Retrieval.Embedding;

/// <summary>The OpenAI-compatible client, through its resilience pipeline, against a real HTTP server on loopback.</summary>
public sealed class OpenAiEmbedderTests
{
    private const int Dimension = 8;
    private static readonly TimeSpan Backoff = TimeSpan.FromMilliseconds(20);

    private static OpenAiEmbedder Client(EmbeddingServer server, List<TimeSpan>? waits = null, int batchSize = 64, int maxRetries = 4,
        int circuitThroughput = 20, double requestTimeoutSeconds = 10) =>
        new(new OpenAiEmbedderOptions
        {
            BaseUrl = server.BaseUrl, Model = "test-embed", Dimension = Dimension, ApiKey = "secret-key",
            BatchSize = batchSize, MaxRetries = maxRetries, InitialBackoff = Backoff, MaxBackoff = TimeSpan.FromSeconds(2),
            CircuitMinimumThroughput = circuitThroughput, RequestTimeout = TimeSpan.FromSeconds(requestTimeoutSeconds),
        })
        {
            RetryWaited = wait => waits?.Add(wait),
        };

    [Fact]
    public async Task Texts_go_in_batches_and_come_back_in_order_normalised()
    {
        await using var server = new EmbeddingServer((body, _) => EmbeddingServer.Embeddings(body, Dimension, reversed: true));
        var texts = Enumerable.Range(0, 150).Select(i => ((char)('A' + i % 50)).ToString() + i).ToArray();

        using var client = Client(server, batchSize: 64);
        var vectors = await client.EmbedAsync(texts);

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
    public async Task Rate_limits_and_server_errors_are_retried_with_jittered_backoff_honouring_retry_after()
    {
        await using var server = new EmbeddingServer((body, n) => n switch
        {
            0 => new EmbeddingServer.Reply(429, """{"error":{"message":"slow down"}}""", RetryAfter: "1"),
            1 => new EmbeddingServer.Reply(503, "overloaded"),
            2 => new EmbeddingServer.Reply(500, "oops"),
            3 => new EmbeddingServer.Reply(408, "timeout"),
            _ => EmbeddingServer.Embeddings(body, Dimension),
        });
        var waits = new List<TimeSpan>();
        using var client = Client(server, waits);

        var vectors = await client.EmbedAsync(["hello"]);

        Assert.Single(vectors);
        Assert.Equal(5, server.Requests.Count);
        Assert.Equal(4, waits.Count);
        Assert.Equal(TimeSpan.FromSeconds(1), waits[0]); // the server's Retry-After
        // Exponential back-off from 20 ms, jittered: never above the cap, and not the bare 40, 80, 160 ms.
        Assert.All(waits.Skip(1), w => Assert.InRange(w, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(2)));
        Assert.NotEqual([Backoff * 2, Backoff * 4, Backoff * 8], waits.Skip(1));
    }

    [Fact]
    public async Task A_server_that_keeps_failing_gives_a_transient_error_after_the_last_retry()
    {
        await using var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(502, "bad gateway"));

        using var client = Client(server, maxRetries: 2);
        var error = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));

        Assert.True(error.Transient);
        Assert.Equal(3, server.Requests.Count);
        Assert.Contains("still failing after 3 attempts: HTTP 502: bad gateway", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_circuit_breaker_stops_calling_an_endpoint_that_keeps_failing()
    {
        await using var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(503, "down"));
        using var client = Client(server, maxRetries: 0, circuitThroughput: 4);

        for (var call = 0; call < 4; call++)
        {
            var failed = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));
            Assert.Contains("HTTP 503: down", failed.Message, StringComparison.Ordinal);
        }
        var open = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));

        Assert.True(open.Transient);
        Assert.Contains("kept failing; not called again for 30 s", open.Message, StringComparison.Ordinal);
        Assert.Equal(4, server.Requests.Count); // the fifth call never reached the server
    }

    [Fact]
    public async Task An_attempt_that_takes_too_long_is_cut_off_and_retried()
    {
        await using var server = new EmbeddingServer((body, n) => n == 0
            ? new EmbeddingServer.Reply(200, "{}", Delay: TimeSpan.FromSeconds(2))
            : EmbeddingServer.Embeddings(body, Dimension));
        using var client = Client(server, maxRetries: 1, requestTimeoutSeconds: 0.3);

        var vectors = await client.EmbedAsync(["late"]);

        Assert.Single(vectors);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task A_refused_request_fails_at_once_quoting_the_servers_message()
    {
        await using var server = new EmbeddingServer((_, _) =>
            new EmbeddingServer.Reply(401, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"""));

        using var client = Client(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));

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

        using var client = Client(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_is_a_transient_error()
    {
        var server = new EmbeddingServer((_, _) => new EmbeddingServer.Reply(200, ""));
        await server.DisposeAsync(); // nothing listens on that port any more

        using var client = Client(server, maxRetries: 1);
        var error = await Assert.ThrowsAsync<EmbeddingException>(() => client.EmbedAsync(["x"]));

        Assert.True(error.Transient);
        Assert.Contains("unreachable after 2 attempts", error.Message, StringComparison.Ordinal);
    }
}
