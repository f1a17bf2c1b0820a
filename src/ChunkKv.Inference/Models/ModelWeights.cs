using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Models;

/// <summary>
/// All weights of a model as float32, the compute type. F32 tensors are used in place in the
/// memory-mapped files (aligned ones, which is all of them in files written by the usual tools);
/// F16 and BF16 are converted once into native memory. Either way each weight is resident once.
/// </summary>
public sealed unsafe class ModelWeights : IDisposable
{
    private readonly List<SafeTensorsFile> files;
    private readonly List<IntPtr> allocations = [];
    private readonly HashSet<SafeTensorsFile> usedInPlace = [];
    private readonly Dictionary<string, (SafeTensorsFile File, TensorEntry Entry)> index;
    private bool disposed;

    private ModelWeights(List<SafeTensorsFile> files)
    {
        this.files = files;
        index = new Dictionary<string, (SafeTensorsFile, TensorEntry)>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var (name, entry) in file.Tensors)
            {
                index[name] = (file, entry);
            }
        }
    }

    public Matrix Embedding { get; private set; }          // model.embed_tokens.weight [vocab, hidden]
    public LayerWeights[] Layers { get; private set; } = [];
    public float* FinalNorm { get; private set; }           // model.norm.weight [hidden]
    public Matrix LanguageModelHead { get; private set; }   // lm_head.weight [vocab, hidden], or the embedding when tied

    /// <summary>The mapped safetensors files, in name order; after <see cref="ReleaseConvertedFiles"/> only those read in place.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => files;

    /// <summary>Bytes converted into native memory (the rest is read in place from the mapped files).</summary>
    public long ConvertedBytes { get; private set; }

    /// <summary>Loads <c>model.safetensors</c>, or the shards named by <c>model.safetensors.index.json</c>.</summary>
    public static ModelWeights Load(string directory, ModelConfig config)
    {
        var weights = new ModelWeights(OpenFiles(directory));
        try
        {
            weights.Resolve(config);
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static List<SafeTensorsFile> OpenFiles(string directory)
    {
        var indexPath = Path.Combine(directory, "model.safetensors.index.json");
        string[] names;
        if (File.Exists(indexPath))
        {
            var map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject
                ?? throw new ModelFormatException("model.safetensors.index.json: 'weight_map' is missing");
            names = map.Select(pair => pair.Value!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal).ToArray();
        }
        else
        {
            names = Directory.GetFiles(directory, "*.safetensors").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        }
        if (names.Length == 0)
        {
            throw new ModelFormatException($"no *.safetensors weights in {directory}");
        }
        var files = new List<SafeTensorsFile>();
        try
        {
            foreach (var name in names)
            {
                var path = Path.Combine(directory, name);
                if (!File.Exists(path))
                {
                    throw new ModelFormatException($"weight file '{name}' named by the index is missing");
                }
                files.Add(SafeTensorsFile.Open(path));
            }
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
        return files;
    }

    private void Resolve(ModelConfig c)
    {
        var qWidth = c.Heads * c.HeadDim;
        var kvWidth = c.KvHeads * c.HeadDim;
        var layers = new LayerWeights[c.Layers];
        for (var i = 0; i < c.Layers; i++)
        {
            var p = $"model.layers.{i}.";
            layers[i] = new LayerWeights
            {
                InputNorm = Vector(p + "input_layernorm.weight", c.HiddenSize),
                Query = Matrix(p + "self_attn.q_proj.weight", qWidth, c.HiddenSize),
                Key = Matrix(p + "self_attn.k_proj.weight", kvWidth, c.HiddenSize),
                Value = Matrix(p + "self_attn.v_proj.weight", kvWidth, c.HiddenSize),
                QueryBias = c.AttentionBias ? Vector(p + "self_attn.q_proj.bias", qWidth) : null,
                KeyBias = c.AttentionBias ? Vector(p + "self_attn.k_proj.bias", kvWidth) : null,
                ValueBias = c.AttentionBias ? Vector(p + "self_attn.v_proj.bias", kvWidth) : null,
                QueryNorm = c.QkNorm ? Vector(p + "self_attn.q_norm.weight", c.HeadDim) : null,
                KeyNorm = c.QkNorm ? Vector(p + "self_attn.k_norm.weight", c.HeadDim) : null,
                Output = Matrix(p + "self_attn.o_proj.weight", c.HiddenSize, qWidth),
                PostAttentionNorm = Vector(p + "post_attention_layernorm.weight", c.HiddenSize),
                Gate = Matrix(p + "mlp.gate_proj.weight", c.IntermediateSize, c.HiddenSize),
                Up = Matrix(p + "mlp.up_proj.weight", c.IntermediateSize, c.HiddenSize),
                Down = Matrix(p + "mlp.down_proj.weight", c.HiddenSize, c.IntermediateSize),
            };
        }
        Layers = layers;
        Embedding = Matrix("model.embed_tokens.weight", c.VocabSize, c.HiddenSize);
        FinalNorm = Vector("model.norm.weight", c.HiddenSize);
        var tied = c.TieWordEmbeddings || !index.ContainsKey("lm_head.weight");
        LanguageModelHead = tied ? Embedding : Matrix("lm_head.weight", c.VocabSize, c.HiddenSize);
    }

    private Matrix Matrix(string name, long rows, long columns) =>
        new(Take(name, [rows, columns]), checked((int)rows), checked((int)columns));

    private float* Vector(string name, long length) => Take(name, [length]);

    private float* Take(string name, long[] shape)
    {
        if (!index.TryGetValue(name, out var found))
        {
            throw new ModelFormatException($"tensor '{name}' is missing from the weights");
        }
        var (file, entry) = found;
        if (!entry.Shape.SequenceEqual(shape))
        {
            throw new ModelFormatException(
                $"tensor '{name}' has shape [{string.Join(", ", entry.Shape)}]; the config needs [{string.Join(", ", shape)}]");
        }
        var source = file.Address(entry);
        if (entry.Type == TensorType.F32 && BitConverter.IsLittleEndian && (long)source % 4 == 0)
        {
            usedInPlace.Add(file);
            return (float*)source;
        }
        var bytes = entry.Elements * sizeof(float);
        var target = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        allocations.Add((IntPtr)target);
        ConvertedBytes += bytes;
        var size = TensorEntry.ElementSize(entry.Type);
        const long Chunk = 1 << 24;
        for (long start = 0; start < entry.Elements; start += Chunk)
        {
            var count = (int)Math.Min(Chunk, entry.Elements - start);
            Numbers.ToSingle(new ReadOnlySpan<byte>(source + start * size, count * size), entry.Type,
                new Span<float>(target + start, count));
        }
        file.DropPages(entry);
        return target;
    }

    /// <summary>
    /// Unmaps the files whose tensors were all converted, so the weights stay resident once (their
    /// mapped pages would otherwise count again). Call once the fingerprint has read the headers.
    /// </summary>
    public void ReleaseConvertedFiles()
    {
        foreach (var file in files.Where(f => !usedInPlace.Contains(f)).ToList())
        {
            file.Dispose();
            files.Remove(file);
        }
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        foreach (var allocation in allocations)
        {
            NativeMemory.AlignedFree((void*)allocation);
        }
        allocations.Clear();
        files.ForEach(f => f.Dispose());
    }
}
