using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Models;

/// <summary>
/// A row-major weight matrix <c>[Rows, Columns]</c> owned by <see cref="ModelWeights"/>, kept as
/// <see cref="Type"/>: float32, 16-bit floats, or 8-bit integers with a float scale per group of a row
/// (<see cref="Scales"/>, <c>[Rows, ⌈Columns / 32⌉]</c>).
/// </summary>
public readonly unsafe struct Matrix(void* data, int rows, int columns, WeightType type = WeightType.F32, float* scales = null)
{
    public void* Data { get; } = data;
    public int Rows { get; } = rows;
    public int Columns { get; } = columns;
    public WeightType Type { get; } = type;

    /// <summary>Q8's scales; null for the other types.</summary>
    public float* Scales { get; } = scales;

    /// <summary>The float32 data; only for <see cref="WeightType.F32"/> matrices.</summary>
    public float* Floats => Type == WeightType.F32 ? (float*)Data : throw new InvalidOperationException($"a {Type} matrix has no float32 data");

    /// <summary>Bytes of memory the matrix takes (scales included).</summary>
    public long Bytes => BytesOf(Rows, Columns, Type);

    public static long BytesOf(long rows, long columns, WeightType type) => type switch
    {
        WeightType.F32 => rows * columns * 4,
        WeightType.F16 or WeightType.BF16 => rows * columns * 2,
        _ => rows * columns + rows * Q8.Groups(columns) * sizeof(float),
    };

    /// <summary>Row <paramref name="row"/> as floats (an embedding lookup).</summary>
    public void ReadRow(int row, Span<float> destination) => WeightRows.ToSingle(this, row, 1, destination);
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
