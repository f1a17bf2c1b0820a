namespace ChunkKv.Inference.Models;

/// <summary>
/// Writes a model directory with deterministic random weights: the same shape, seed and type give
/// the same bytes on every machine (SplitMix64 and Box-Muller, no platform RNG). Weights are scaled
/// by 1/sqrt(fan-in) so activations stay of order one and logits differ meaningfully.
/// </summary>
public static class RandomModel
{
    /// <summary>Hugging Face's shard size: a checkpoint past it is written in shards with an index.</summary>
    public const long ShardBytes = 5_000_000_000;

    /// <summary>
    /// Writes <c>config.json</c> and the weights (streamed, so a shape larger than memory can be written:
    /// an 8B model in bf16 is four shards). The same seed gives the same bytes everywhere.
    /// </summary>
    public static void Write(string directory, ModelShape shape, ulong seed = 1, TensorType type = TensorType.F32, long maxShardBytes = ShardBytes)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), shape.ToConfigJson());
        var random = new SplitMix64(seed);
        var tensors = new List<SafeTensorsWriter.StreamedTensor>();
        var q = shape.Heads * shape.HeadDim;
        var kv = shape.KvHeads * shape.HeadDim;
        // The values are drawn when written, in this order, so each tensor's draw continues the last one's.
        void Add(string name, float scale, float offset, params long[] dims) =>
            tensors.Add(new SafeTensorsWriter.StreamedTensor(name, type, dims, chunk => random.FillNormal(chunk, scale, offset)));
        float FanIn(int n) => 1f / MathF.Sqrt(n);

        Add("model.embed_tokens.weight", 1f, 0f, shape.VocabSize, shape.HiddenSize);
        for (var i = 0; i < shape.Layers; i++)
        {
            var p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", 0.1f, 1f, shape.HiddenSize);
            Add(p + "self_attn.q_proj.weight", FanIn(shape.HiddenSize), 0f, q, shape.HiddenSize);
            Add(p + "self_attn.k_proj.weight", FanIn(shape.HiddenSize), 0f, kv, shape.HiddenSize);
            Add(p + "self_attn.v_proj.weight", FanIn(shape.HiddenSize), 0f, kv, shape.HiddenSize);
            if (shape.AttentionBias)
            {
                Add(p + "self_attn.q_proj.bias", 0.1f, 0f, q);
                Add(p + "self_attn.k_proj.bias", 0.1f, 0f, kv);
                Add(p + "self_attn.v_proj.bias", 0.1f, 0f, kv);
            }
            if (shape.ArchitectureName == "Qwen3ForCausalLM")
            {
                Add(p + "self_attn.q_norm.weight", 0.1f, 1f, shape.HeadDim);
                Add(p + "self_attn.k_norm.weight", 0.1f, 1f, shape.HeadDim);
            }
            Add(p + "self_attn.o_proj.weight", FanIn(q), 0f, shape.HiddenSize, q);
            Add(p + "post_attention_layernorm.weight", 0.1f, 1f, shape.HiddenSize);
            Add(p + "mlp.gate_proj.weight", FanIn(shape.HiddenSize), 0f, shape.IntermediateSize, shape.HiddenSize);
            Add(p + "mlp.up_proj.weight", FanIn(shape.HiddenSize), 0f, shape.IntermediateSize, shape.HiddenSize);
            Add(p + "mlp.down_proj.weight", FanIn(shape.IntermediateSize), 0f, shape.HiddenSize, shape.IntermediateSize);
        }
        Add("model.norm.weight", 0.1f, 1f, shape.HiddenSize);
        if (!shape.TieWordEmbeddings)
        {
            Add("lm_head.weight", FanIn(shape.HiddenSize), 0f, shape.VocabSize, shape.HiddenSize);
        }
        SafeTensorsWriter.WriteModel(directory, tensors, maxShardBytes);
    }

    /// <summary>SplitMix64: tiny, fast and identical everywhere.</summary>
    private sealed class SplitMix64(ulong seed)
    {
        private ulong state = seed;

        public ulong Next()
        {
            var z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>A uniform double in (0, 1].</summary>
        private double Uniform() => ((Next() >> 11) + 1) * (1.0 / (1UL << 53));

        public void FillNormal(Span<float> values, float scale, float offset)
        {
            for (var i = 0; i < values.Length; i += 2)
            {
                var radius = Math.Sqrt(-2 * Math.Log(Uniform()));
                var (sin, cos) = Math.SinCos(2 * Math.PI * Uniform());
                values[i] = (float)(radius * cos) * scale + offset;
                if (i + 1 < values.Length)
                {
                    values[i + 1] = (float)(radius * sin) * scale + offset;
                }
            }
        }
    }
}
