using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Retrieval.Embedding;

/// <summary>
/// Client of an OpenAI-compatible <c>POST {base}/embeddings</c>. Sends texts in batches, retries
/// transient failures (timeouts, connection errors, 408, 429 and 5xx) with exponential back-off
/// that honours <c>Retry-After</c>, and turns everything else into an <see cref="EmbeddingException"/>
/// that quotes the server's own message.
/// </summary>
public sealed class OpenAiEmbedder : IEmbedder
{
    private readonly HttpClient _http;
    private readonly OpenAiEmbedderOptions _options;
    private readonly Uri _endpoint;

    public OpenAiEmbedder(HttpClient http, OpenAiEmbedderOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries);
        _http = http;
        _options = options;
        _endpoint = new Uri(options.BaseUrl.AbsoluteUri.TrimEnd('/') + "/embeddings");
    }

    public string Name => $"openai:{_options.Model}:{Dimension}";

    public int Dimension => _options.Dimension;

    /// <summary>Waits between attempts; replaced in tests.</summary>
    internal Func<TimeSpan, CancellationToken, Task> Delay { get; set; } = Task.Delay;

    public async Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        var vectors = new float[texts.Count][];
        for (var start = 0; start < texts.Count; start += _options.BatchSize)
        {
            var batch = texts.Skip(start).Take(_options.BatchSize).ToArray();
            var embedded = await EmbedBatchWithRetriesAsync(batch, cancellationToken);
            embedded.CopyTo(vectors, start);
        }
        return vectors;
    }

    private async Task<float[][]> EmbedBatchWithRetriesAsync(string[] batch, CancellationToken cancellationToken)
    {
        var backoff = _options.InitialBackoff;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await EmbedBatchAsync(batch, cancellationToken);
            }
            catch (RetryableException retry) when (attempt < _options.MaxRetries)
            {
                var wait = retry.RetryAfter is { } after && after < _options.MaxBackoff ? after : backoff;
                await Delay(wait, cancellationToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
            }
            catch (RetryableException retry)
            {
                throw new EmbeddingException(
                    $"embedding endpoint {_endpoint} still failing after {attempt + 1} attempts: {retry.Message}", transient: true, retry);
            }
        }
    }

    private async Task<float[][]> EmbedBatchAsync(string[] batch, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["model"] = _options.Model,
            ["input"] = new JsonArray(batch.Select(t => (JsonNode)t).ToArray()),
            ["encoding_format"] = "float",
        };
        if (_options.RequestDimension)
        {
            body["dimensions"] = _options.Dimension;
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = JsonContent.Create(body) };
        if (_options.ApiKey is { Length: > 0 } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        HttpResponseMessage response;
        string text;
        try
        {
            response = await _http.SendAsync(request, timeout.Token);
            text = await response.Content.ReadAsStringAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RetryableException($"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s", null);
        }
        catch (HttpRequestException e)
        {
            throw new RetryableException(e.Message, null);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var message = $"HTTP {(int)response.StatusCode}: {ServerMessage(text)}";
                if (IsTransient(response.StatusCode))
                {
                    throw new RetryableException(message, response.Headers.RetryAfter?.Delta);
                }
                throw new EmbeddingException($"embedding endpoint {_endpoint} refused the request: {message}", transient: false);
            }
        }
        return Parse(text, batch.Length);
    }

    private float[][] Parse(string text, int expected)
    {
        try
        {
            var data = JsonNode.Parse(text)?["data"]?.AsArray()
                ?? throw new EmbeddingException("the response has no 'data' array", transient: false);
            if (data.Count != expected)
            {
                throw new EmbeddingException($"the response holds {data.Count} embeddings for {expected} inputs", transient: false);
            }
            var vectors = new float[expected][];
            for (var i = 0; i < data.Count; i++)
            {
                var item = data[i] as JsonObject ?? throw new EmbeddingException($"item {i} of 'data' is not an object", transient: false);
                var index = item["index"]?.GetValue<int>() ?? i; // servers may answer out of order
                var embedding = item["embedding"] as JsonArray
                    ?? throw new EmbeddingException($"item {i} has no 'embedding' array", transient: false);
                var vector = embedding.Select(v => v?.GetValue<float>()
                    ?? throw new EmbeddingException($"item {i} has a null in its embedding", transient: false)).ToArray();
                if (vector.Length != Dimension)
                {
                    throw new EmbeddingException(
                        $"model '{_options.Model}' returned {vector.Length} dimensions; this embedder is configured for {Dimension}", transient: false);
                }
                if ((uint)index >= (uint)expected || vectors[index] is not null)
                {
                    throw new EmbeddingException($"the response has a missing or repeated index {index}", transient: false);
                }
                UnitVectors.Normalize(vector);
                vectors[index] = vector;
            }
            return vectors;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new EmbeddingException($"embedding endpoint {_endpoint} sent a response that is not an embeddings list: {e.Message}",
                transient: false, e);
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>The <c>error.message</c> of an OpenAI-style error body, else the body's start.</summary>
    private static string ServerMessage(string body)
    {
        try
        {
            if (JsonNode.Parse(body)?["error"] is { } error)
            {
                return error is JsonValue ? error.ToString() : error["message"]?.ToString() ?? error.ToJsonString();
            }
        }
        catch (JsonException)
        {
        }
        return body.Length > 300 ? body[..300] + "..." : body;
    }

    private sealed class RetryableException(string message, TimeSpan? retryAfter) : Exception(message)
    {
        public TimeSpan? RetryAfter { get; } = retryAfter;
    }
}
