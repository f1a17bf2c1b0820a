using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Models;

/// <summary>
/// The shape of a model without its weights: enough to write a <c>config.json</c>. The named
/// real shapes are for benchmarks; the tiny ones cover every architecture switch in tests.
/// </summary>
public sealed record ModelShape(
    string Name,
    string ArchitectureName,
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int Heads,
    int KvHeads,
    int HeadDim,
    double RopeTheta,
    bool TieWordEmbeddings,
    bool AttentionBias = false,
    Llama3RopeScaling? RopeScaling = null,
    float RmsNormEpsilon = 1e-6f)
{
    public static readonly ModelShape Qwen25Of500M = new("qwen2.5-0.5b", "Qwen2ForCausalLM", 151936, 896, 4864, 24, 14, 2, 64,
        1_000_000, TieWordEmbeddings: true, AttentionBias: true);

    public static readonly ModelShape Llama32Of1B = new("llama3.2-1b", "LlamaForCausalLM", 128256, 2048, 8192, 16, 32, 8, 64,
        500_000, TieWordEmbeddings: true, RopeScaling: new Llama3RopeScaling(32, 1, 4, 8192), RmsNormEpsilon: 1e-5f);

    /// <summary>Sizes a CPU user deploys, for memory and speed benchmarks (16 GB in bf16: they do not fit this machine in fp32).</summary>
    public static readonly ModelShape Llama31Of8B = new("llama3.1-8b", "LlamaForCausalLM", 128256, 4096, 14336, 32, 32, 8, 128,
        500_000, TieWordEmbeddings: false, RopeScaling: new Llama3RopeScaling(8, 1, 4, 8192), RmsNormEpsilon: 1e-5f);

    public static readonly ModelShape Qwen25Of7B = new("qwen2.5-7b", "Qwen2ForCausalLM", 152064, 3584, 18944, 28, 28, 4, 128,
        1_000_000, TieWordEmbeddings: false, AttentionBias: true);

    /// <summary>Tiny models, one per architecture variant, small enough for a reference run in tests.</summary>
    public static readonly ModelShape[] Tiny =
    [
        new("tiny-llama3", "LlamaForCausalLM", 384, 64, 160, 2, 4, 2, 16, 500_000, TieWordEmbeddings: false,
            RopeScaling: new Llama3RopeScaling(8, 1, 4, 64), RmsNormEpsilon: 1e-5f),
        new("tiny-mistral", "MistralForCausalLM", 384, 64, 160, 2, 8, 2, 8, 10_000, TieWordEmbeddings: false),
        new("tiny-qwen2", "Qwen2ForCausalLM", 384, 64, 160, 2, 4, 1, 16, 1_000_000, TieWordEmbeddings: true, AttentionBias: true),
        new("tiny-qwen3", "Qwen3ForCausalLM", 384, 64, 160, 3, 4, 2, 32, 1_000_000, TieWordEmbeddings: true),
    ];

    public static IEnumerable<ModelShape> All => [Qwen25Of500M, Llama32Of1B, Llama31Of8B, Qwen25Of7B, .. Tiny];

    public static ModelShape Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new FormatException($"unknown model shape '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}");

    public string ToConfigJson()
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(ArchitectureName),
            ["model_type"] = ArchitectureName.Replace("ForCausalLM", "", StringComparison.Ordinal).ToLowerInvariant(),
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["rope_theta"] = RopeTheta,
            ["rms_norm_eps"] = RmsNormEpsilon,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["attention_bias"] = AttentionBias,
            ["max_position_embeddings"] = 32768,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = "float32",
        };
        if (RopeScaling is { } s)
        {
            config["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3",
                ["factor"] = s.Factor,
                ["low_freq_factor"] = s.LowFrequencyFactor,
                ["high_freq_factor"] = s.HighFrequencyFactor,
                ["original_max_position_embeddings"] = s.OriginalMaxPositions,
            };
        }
        return config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
