using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace ChunkKv.Retrieval.Embedding;

/// <summary>
/// Client of an OpenAI-compatible <c>POST {base}/embeddings</c>. Sends texts in batches through
/// the standard HTTP resilience pipeline of Microsoft.Extensions.Http.Resilience (Polly): a total
/// timeout, retries of transient failures (connection errors, timeouts, 408, 429, 5xx) with
/// exponential back-off and jitter that honours <c>Retry-After</c>, a circuit breaker that fails
/// fast while the endpoint keeps failing, and a timeout per attempt. Everything else becomes an
/// <see cref="EmbeddingException"/> that quotes the server's own message.
/// </summary>
public sealed class OpenAiEmbedder : IEmbedder, IDisposable
{
    private readonly HttpClient _http;
    private readonly OpenAiEmbedderOptions _options;
    private readonly Uri _endpoint;

    /// <param name="handler">The connection handler under the resilience pipeline (default a <see cref="SocketsHttpHandler"/>).</param>
    public OpenAiEmbedder(OpenAiEmbedderOptions options, HttpMessageHandler? handler = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries);
        _options = options;
        _endpoint = new Uri(options.BaseUrl.AbsoluteUri.TrimEnd('/') + "/embeddings");
        var resilience = new ResilienceHandler(Pipeline(options, wait => RetryWaited?.Invoke(wait)))
        {
            InnerHandler = handler ?? new SocketsHttpHandler(),
        };
        // The pipeline's timeouts govern; HttpClient's own would cut a retrying request short.
        _http = new HttpClient(resilience) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public string Name => $"openai:{_options.Model}:{Dimension}";

    public int Dimension => _options.Dimension;

    /// <summary>Told each wait before a retry (tests check the back-off and Retry-After).</summary>
    internal Action<TimeSpan>? RetryWaited { get; set; }

    /// <summary>The standard pipeline's order: total timeout ▸ retry ▸ circuit breaker ▸ attempt timeout.</summary>
    private static ResiliencePipeline<HttpResponseMessage> Pipeline(OpenAiEmbedderOptions options, Action<TimeSpan> waited)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = options.TotalTimeout });
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.InitialBackoff,
                MaxDelay = options.MaxBackoff,
                ShouldRetryAfterHeader = true,
                OnRetry = args =>
                {
                    waited(args.RetryDelay);
                    return default;
                },
            });
        }
        return builder
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = options.CircuitMinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = options.CircuitBreakDuration,
            })
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = options.RequestTimeout })
            .Build();
    }

    public async Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        var vectors = new float[texts.Count][];
        for (var start = 0; start < texts.Count; start += _options.BatchSize)
        {
            var batch = texts.Skip(start).Take(_options.BatchSize).ToArray();
            var embedded = await EmbedBatchAsync(batch, cancellationToken);
            embedded.CopyTo(vectors, start);
        }
        return vectors;
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

        HttpResponseMessage response;
        string text;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
            text = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        catch (TimeoutRejectedException e)
        {
            throw new EmbeddingException($"embedding endpoint {_endpoint} gave no answer within {e.Timeout.TotalSeconds:0.#} s", transient: true, e);
        }
        catch (BrokenCircuitException e)
        {
            throw new EmbeddingException(
                $"embedding endpoint {_endpoint} kept failing; not called again for {_options.CircuitBreakDuration.TotalSeconds:0.#} s", transient: true, e);
        }
        catch (HttpRequestException e)
        {
            throw new EmbeddingException($"embedding endpoint {_endpoint} unreachable after {_options.MaxRetries + 1} attempts: {e.Message}", transient: true, e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var message = $"HTTP {(int)response.StatusCode}: {ServerMessage(text)}";
                throw IsTransient(response.StatusCode)
                    ? new EmbeddingException($"embedding endpoint {_endpoint} still failing after {_options.MaxRetries + 1} attempts: {message}", transient: true)
                    : new EmbeddingException($"embedding endpoint {_endpoint} refused the request: {message}", transient: false);
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

    public void Dispose() => _http.Dispose();
}
