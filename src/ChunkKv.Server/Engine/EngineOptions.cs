namespace ChunkKv.Server.Engine;

/// <summary>The model, where local data lives, cache sizes, request limits and defaults (environment: CHUNKKV_MODEL, ...).</summary>
public sealed class EngineOptions
{
    /// <summary>A Hugging Face Llama/Mistral/Qwen directory (config.json, *.safetensors, tokenizer.json).</summary>
    public string? Model { get; set; }

    /// <summary>The embedded index and the disk cache tier live here.</summary>
    public string DataDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "chunkkv-data");

    public long MemoryCacheMegabytes { get; set; } = 1024;
    public long DiskCacheMegabytes { get; set; } = 16 * 1024;

    /// <summary>How the model's matrices are kept in memory: auto (as the checkpoint stores them), f32, bf16, f16 or q8.</summary>
    public string Weights { get; set; } = "auto";

    /// <summary>Where the matrices live: auto (huge pages where the kernel offers them), mapped (read in place from the file) or huge-pages.</summary>
    public string WeightMemory { get; set; } = "auto";

    /// <summary>Codec of stored chunk caches: f32, f16, bf16, int8, int4, int2.</summary>
    public string Codec { get; set; } = "f16";

    /// <summary>How collections made by this server embed chunks and questions: minilm, hashing, engine or openai (<see cref="EmbedderChoice"/>).</summary>
    public string Embedder { get; set; } = "minilm";

    /// <summary>engine: pool the residual stream after this many layers instead of the final states.</summary>
    public int? EmbedderLayer { get; set; }

    /// <summary>openai: the API root, e.g. <c>https://api.openai.com/v1</c>.</summary>
    public string? EmbedderUrl { get; set; }

    /// <summary>openai: the embedding model's name.</summary>
    public string? EmbedderModel { get; set; }

    /// <summary>openai: the length of its vectors.</summary>
    public int? EmbedderDimension { get; set; }

    /// <summary>openai: sent as a bearer token when set.</summary>
    public string? EmbedderApiKey { get; set; }

    /// <summary>
    /// Share chunk caches between tenants. Off by default: a shared cache tells one tenant, by a hit or
    /// by its speed, whether another holds a text (the side channel of CVE-2025-46570, which vLLM's
    /// cache_salt closes). On: the same text is computed and stored once for all tenants.
    /// </summary>
    public bool SharedCaches { get; set; }

    /// <summary>Tokens per chunk at ingestion.</summary>
    public int ChunkTokens { get; set; } = 128;

    /// <summary>The method a query runs when it names none and its collection has no calibration (else the calibrated default).</summary>
    public string DefaultMethod { get; set; } = "cacheblend:0.15";

    /// <summary>
    /// A query asking for a method that failed its collection's calibration: <c>warn</c> (answered, with the
    /// <c>ChunkKv-Calibration-Warning</c> header and <c>calibration_warning</c> naming the measured figures) or <c>refuse</c> (422).
    /// </summary>
    public string FailedCalibration { get; set; } = "warn";
    public int DefaultTopK { get; set; } = 5;
    public int DefaultMaxTokens { get; set; } = 64;

    /// <summary>Chunks before and after each hit a query brings along when it names none (within top_k).</summary>
    public int DefaultNeighboursBefore { get; set; }

    /// <summary>The chunk after a hit comes along by default: a chunk that continues the one before it ("They ...") is found through it.</summary>
    public int DefaultNeighboursAfter { get; set; } = 1;

    public int MaxTopK { get; set; } = 32;
    public int MaxTokens { get; set; } = 1024;
    /// <summary>Characters as a reader counts them (text elements).</summary>
    public int MaxQuestionCharacters { get; set; } = 4000;

    /// <summary>Most characters of a client's system text and earlier turns together (they are prefilled on every query).</summary>
    public int MaxConversationCharacters { get; set; } = 16_000;

    /// <summary>Most earlier turns a query may carry.</summary>
    public int MaxHistoryTurns { get; set; } = 64;

    /// <summary>Methods one query may be compared with: each runs the whole query again, holding the engine.</summary>
    public int MaxCompare { get; set; } = 4;
    public int MaxDocumentCharacters { get; set; } = 2_000_000;

    /// <summary>A document longer than this is ingested by a background job (202 and /v1/jobs/{id}) rather than before the response.</summary>
    public int BackgroundAboveCharacters { get; set; } = 20_000;

    /// <summary>The first wait before a background job that failed for a passing reason (a store down) runs again; it doubles each time.</summary>
    public double JobRetrySeconds { get; set; } = 5;
}
