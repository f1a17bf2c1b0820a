namespace ChunkKv.Retrieval.Embedding;

/// <summary>Settings of an OpenAI-compatible <c>/embeddings</c> endpoint (OpenAI, vLLM, Ollama, text-embeddings-inference...).</summary>
public sealed class OpenAiEmbedderOptions
{
    /// <summary>The API root that <c>/embeddings</c> is appended to, e.g. <c>https://api.openai.com/v1</c>.</summary>
    public required Uri BaseUrl { get; init; }

    public required string Model { get; init; }

    /// <summary>The length of the vectors the model returns; every response is checked against it.</summary>
    public required int Dimension { get; init; }

    /// <summary>Sent as a bearer token when set.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Send <c>dimensions</c> in the request (models that can shorten their vectors, e.g. text-embedding-3).</summary>
    public bool RequestDimension { get; init; }

    public int BatchSize { get; init; } = 64;

    /// <summary>Retries of a batch after a transient failure (connection error, timeout, 408, 429, 5xx), with exponential back-off and jitter.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>The median first wait; attempt n waits about this · 2ⁿ, jittered, unless the server sends <c>Retry-After</c>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>One attempt's limit.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A batch's limit over all its attempts and waits.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts within 30 s before the circuit breaker may open (it opens when half of them failed).</summary>
    public int CircuitMinimumThroughput { get; init; } = 20;

    /// <summary>How long an open circuit fails calls at once before it lets one through again.</summary>
    public TimeSpan CircuitBreakDuration { get; init; } = TimeSpan.FromSeconds(30);
}
