using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// How a collection's documents become chunks and prompts, fixed when it is created: its prompt
/// prefix (the system text the chunk caches are computed after) and its chunk size. Null fields
/// take the server's defaults (the model's layout prefix, the configured chunk size).
/// </summary>
public sealed record CollectionSettings(
    [property: JsonPropertyName("prefix")] string? Prefix = null,
    [property: JsonPropertyName("chunk_tokens")] int? ChunkTokens = null)
{
    public static CollectionSettings None { get; } = new();

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static CollectionSettings FromJson(string? json) =>
        string.IsNullOrEmpty(json) ? None : JsonSerializer.Deserialize<CollectionSettings>(json, Json) ?? None;
}
