using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Bench.LlamaCpp;

/// <summary>
/// A Hugging Face Qwen2-architecture model directory written as GGUF, so llama.cpp runs the same
/// weights: the <c>qwen2.*</c> hyper-parameters, llama.cpp's tensor names (Q and K as Hugging Face
/// stores them: llama.cpp rotates Qwen2 the NEOX way, as Hugging Face does), the matrices in the
/// type asked for and norms and biases in F32 (as llama.cpp's own converter writes them). The
/// vocabulary is a stand-in of the model's size (the 256 byte tokens GPT-2's BPE starts from, then
/// numbered ones): the benchmark feeds token ids, never text.
/// </summary>
public static class GgufModel
{
    public static void Write(string modelDirectory, GgmlType matrices, string path)
    {
        var config = ModelConfig.Parse(File.ReadAllText(Path.Combine(modelDirectory, "config.json")));
        if (config.Architecture != Architecture.Qwen2)
        {
            throw new NotSupportedException($"the llama.cpp baseline writes Qwen2-architecture models only (this one is {config.ArchitectureName})");
        }
        var files = Directory.GetFiles(modelDirectory, "*.safetensors").Order(StringComparer.Ordinal).Select(SafeTensorsFile.Open).ToList();
        try
        {
            var tensors = files.SelectMany(f => f.Tensors.Values.Select(t => (File: f, Entry: t))).ToDictionary(t => t.Entry.Name);
            var gguf = new GgufWriter();
            gguf.Add("general.architecture", "qwen2");
            gguf.Add("general.name", Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDirectory)));
            gguf.Add("general.alignment", (uint)GgufWriter.Alignment);
            gguf.Add("general.file_type", matrices switch { GgmlType.F32 => 0u, GgmlType.F16 => 1u, _ => 32u });
            gguf.Add("qwen2.context_length", (uint)config.MaxPositions);
            gguf.Add("qwen2.embedding_length", (uint)config.HiddenSize);
            gguf.Add("qwen2.feed_forward_length", (uint)config.IntermediateSize);
            gguf.Add("qwen2.block_count", (uint)config.Layers);
            gguf.Add("qwen2.attention.head_count", (uint)config.Heads);
            gguf.Add("qwen2.attention.head_count_kv", (uint)config.KvHeads);
            gguf.Add("qwen2.rope.freq_base", (float)config.RopeTheta);
            gguf.Add("qwen2.attention.layer_norm_rms_epsilon", config.RmsNormEpsilon);
            AddVocabulary(gguf, config.VocabSize);

            void Add(string ggufName, string hfName, GgmlType type)
            {
                var (file, entry) = tensors.TryGetValue(hfName, out var found) ? found
                    : throw new ModelFormatException($"{modelDirectory}: tensor '{hfName}' is missing");
                var dimensions = entry.Shape.Reverse().Select(d => (ulong)d).ToArray();
                var rowLength = (int)entry.Shape[^1];
                gguf.Add(new GgufWriter.Tensor(ggufName, dimensions, type, write =>
                {
                    var row = new float[rowLength];
                    var rowBytes = rowLength * TensorEntry.ElementSize(entry.Type);
                    for (long offset = 0; offset < entry.Length; offset += rowBytes)
                    {
                        Numbers.ToSingle(file.Bytes(entry, offset, rowBytes), entry.Type, row);
                        write(row);
                    }
                }));
            }

            Add("token_embd.weight", "model.embed_tokens.weight", matrices);
            for (var layer = 0; layer < config.Layers; layer++)
            {
                var hf = $"model.layers.{layer}.";
                var blk = $"blk.{layer}.";
                Add(blk + "attn_norm.weight", hf + "input_layernorm.weight", GgmlType.F32);
                foreach (var (gg, name) in new[] { ("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj") })
                {
                    Add(blk + gg + ".weight", hf + "self_attn." + name + ".weight", matrices);
                    Add(blk + gg + ".bias", hf + "self_attn." + name + ".bias", GgmlType.F32);
                }
                Add(blk + "attn_output.weight", hf + "self_attn.o_proj.weight", matrices);
                Add(blk + "ffn_norm.weight", hf + "post_attention_layernorm.weight", GgmlType.F32);
                Add(blk + "ffn_gate.weight", hf + "mlp.gate_proj.weight", matrices);
                Add(blk + "ffn_up.weight", hf + "mlp.up_proj.weight", matrices);
                Add(blk + "ffn_down.weight", hf + "mlp.down_proj.weight", matrices);
            }
            Add("output_norm.weight", "model.norm.weight", GgmlType.F32);
            if (!config.TieWordEmbeddings)
            {
                Add("output.weight", "lm_head.weight", matrices);
            }
            gguf.Write(path);
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    /// <summary>GPT-2's 256 byte tokens (so any text maps to tokens), then numbered ones; the last is the end token.</summary>
    private static void AddVocabulary(GgufWriter gguf, int size)
    {
        var tokens = ByteTokens().Concat(Enumerable.Range(256, Math.Max(0, size - 256)).Select(i => $"<t{i}>")).Take(size).ToArray();
        tokens[^1] = "<|end|>";
        var types = Enumerable.Repeat(1, size).ToArray(); // normal
        types[^1] = 3; // control
        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", "default");
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.merges", Array.Empty<string>());
        gguf.Add("tokenizer.ggml.eos_token_id", (uint)(size - 1));
    }

    /// <summary>GPT-2's printable stand-ins for the 256 bytes (its <c>bytes_to_unicode</c>).</summary>
    private static IEnumerable<string> ByteTokens()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            yield return char.ConvertFromUtf32(printable.Contains(b) ? b : next++);
        }
    }
}
