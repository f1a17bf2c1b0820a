namespace ChunkKv.Inference.Models;

/// <summary>A row-major float matrix <c>[Rows, Columns]</c> owned by <see cref="ModelWeights"/>.</summary>
public readonly unsafe struct Matrix(float* data, int rows, int columns)
{
    public float* Data { get; } = data;
    public int Rows { get; } = rows;
    public int Columns { get; } = columns;
}

/// <summary>The tensors of one decoder layer (Hugging Face names in the comments).</summary>
public sealed unsafe class LayerWeights
{
    public required float* InputNorm { get; init; }          // input_layernorm.weight [hidden]
    public required Matrix Query { get; init; }               // self_attn.q_proj.weight [heads*headDim, hidden]
    public required Matrix Key { get; init; }                 // self_attn.k_proj.weight [kvHeads*headDim, hidden]
    public required Matrix Value { get; init; }               // self_attn.v_proj.weight [kvHeads*headDim, hidden]
    public float* QueryBias { get; init; }                    // self_attn.q_proj.bias (Qwen2)
    public float* KeyBias { get; init; }
    public float* ValueBias { get; init; }
    public float* QueryNorm { get; init; }                    // self_attn.q_norm.weight [headDim] (Qwen3)
    public float* KeyNorm { get; init; }                      // self_attn.k_norm.weight [headDim] (Qwen3)
    public required Matrix Output { get; init; }              // self_attn.o_proj.weight [hidden, heads*headDim]
    public required float* PostAttentionNorm { get; init; }  // post_attention_layernorm.weight [hidden]
    public required Matrix Gate { get; init; }                // mlp.gate_proj.weight [intermediate, hidden]
    public required Matrix Up { get; init; }                  // mlp.up_proj.weight [intermediate, hidden]
    public required Matrix Down { get; init; }                // mlp.down_proj.weight [hidden, intermediate]
}
