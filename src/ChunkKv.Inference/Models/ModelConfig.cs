using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Models;

/// <summary>The Llama-family architectures the engine runs; they differ in a few switches.</summary>
public enum Architecture
{
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
}

/// <summary>Llama 3.x frequency-dependent RoPE scaling (<c>rope_scaling.rope_type = "llama3"</c>).</summary>
public sealed record Llama3RopeScaling(double Factor, double LowFrequencyFactor, double HighFrequencyFactor,
    int OriginalMaxPositions);

/// <summary>The fields of a Hugging Face <c>config.json</c> that change the computation.</summary>
public sealed record ModelConfig
{
    public required Architecture Architecture { get; init; }
    public required string ArchitectureName { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required float RmsNormEpsilon { get; init; }
    public required double RopeTheta { get; init; }
    public Llama3RopeScaling? RopeScaling { get; init; }
    public required bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on the q, k and v projections (Qwen2; Llama with <c>attention_bias</c>).</summary>
    public required bool AttentionBias { get; init; }

    /// <summary>Per-head RMSNorm of q and k before RoPE (Qwen3).</summary>
    public bool QkNorm => Architecture == Architecture.Qwen3;

    public int MaxPositions { get; init; } = 4096;
    public int[] BosTokenIds { get; init; } = [];
    public int[] EosTokenIds { get; init; } = [];

    /// <summary>Queries per KV head (grouped-query attention).</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>Reads <c>config.json</c>; a missing or wrong field is named in the error.</summary>
    public static ModelConfig Parse(string json)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json)?.AsObject() ?? throw new ModelFormatException("config.json is empty");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"config.json is not valid JSON: {e.Message}", e);
        }
        var name = (root["architectures"] as JsonArray)?.FirstOrDefault()?.GetValue<string>()
            ?? throw new ModelFormatException("config.json: 'architectures' is missing");
        var architecture = name switch
        {
            "LlamaForCausalLM" => Architecture.Llama,
            "MistralForCausalLM" => Architecture.Mistral,
            "Qwen2ForCausalLM" => Architecture.Qwen2,
            "Qwen3ForCausalLM" => Architecture.Qwen3,
            _ => throw new ModelFormatException(
                $"config.json: architecture '{name}' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM are)"),
        };
        var hidden = Required<int>(root, "hidden_size");
        var heads = Required<int>(root, "num_attention_heads");
        var kvHeads = Optional(root, "num_key_value_heads", heads);
        var headDim = Optional<int?>(root, "head_dim", null) ?? hidden / heads;
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
        {
            throw new ModelFormatException($"config.json: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        }
        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw new ModelFormatException($"config.json: head_dim {headDim} must be positive and even for RoPE");
        }
        var config = new ModelConfig
        {
            Architecture = architecture,
            ArchitectureName = name,
            VocabSize = Required<int>(root, "vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = Required<int>(root, "intermediate_size"),
            Layers = Required<int>(root, "num_hidden_layers"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEpsilon = (float)Optional(root, "rms_norm_eps", 1e-6),
            RopeTheta = Optional(root, "rope_theta", 10000.0),
            RopeScaling = ParseRopeScaling(root["rope_scaling"]),
            TieWordEmbeddings = Optional(root, "tie_word_embeddings", false),
            AttentionBias = architecture == Architecture.Qwen2 || Optional(root, "attention_bias", false),
            MaxPositions = Optional(root, "max_position_embeddings", 4096),
            BosTokenIds = TokenIds(root["bos_token_id"]),
            EosTokenIds = TokenIds(root["eos_token_id"]),
        };
        foreach (var (field, value) in new[] { ("vocab_size", config.VocabSize), ("hidden_size", hidden),
                     ("intermediate_size", config.IntermediateSize), ("num_hidden_layers", config.Layers) })
        {
            if (value <= 0)
            {
                throw new ModelFormatException($"config.json: '{field}' must be positive, got {value}");
            }
        }
        return config;
    }

    /// <summary><c>generation_config.json</c> may name other EOS tokens (Llama 3 instruct: end of turn too).</summary>
    public ModelConfig WithGenerationConfig(string json)
    {
        var root = JsonNode.Parse(json)?.AsObject();
        var eos = TokenIds(root?["eos_token_id"]);
        var bos = TokenIds(root?["bos_token_id"]);
        return this with
        {
            EosTokenIds = eos.Length > 0 ? eos : EosTokenIds,
            BosTokenIds = bos.Length > 0 ? bos : BosTokenIds,
        };
    }

    private static Llama3RopeScaling? ParseRopeScaling(JsonNode? node)
    {
        if (node is not JsonObject scaling)
        {
            return null;
        }
        var type = (scaling["rope_type"] ?? scaling["type"])?.GetValue<string>();
        return type switch
        {
            null or "default" => null,
            "llama3" => new Llama3RopeScaling(
                Required<double>(scaling, "factor"),
                Optional(scaling, "low_freq_factor", 1.0),
                Optional(scaling, "high_freq_factor", 4.0),
                Required<int>(scaling, "original_max_position_embeddings")),
            _ => throw new ModelFormatException($"config.json: rope_scaling type '{type}' is not supported (llama3 is)"),
        };
    }

    private static int[] TokenIds(JsonNode? node) => node switch
    {
        null => [],
        JsonArray array => array.Select(n => n!.GetValue<int>()).ToArray(),
        _ => [node.GetValue<int>()],
    };

    private static T Required<T>(JsonObject root, string field)
    {
        var node = root[field] ?? throw new ModelFormatException($"config.json: '{field}' is missing");
        return Read<T>(node, field);
    }

    private static T Optional<T>(JsonObject root, string field, T fallback) =>
        root[field] is { } node ? Read<T>(node, field) : fallback;

    private static T Read<T>(JsonNode node, string field)
    {
        try
        {
            return node.Deserialize<T>()!;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException($"config.json: '{field}' has an unexpected value {node.ToJsonString()}", e);
        }
    }
}

/// <summary>A model directory that cannot be used as it is; the message names the file, field or tensor.</summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string message) : base(message)
    {
    }

    public ModelFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}
