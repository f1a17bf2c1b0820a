using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Models;

/// <summary>
/// All weights of a model: matrices kept as the <see cref="WeightChoice"/> says (what the checkpoint
/// stores, float32, a 16-bit float, or Q8), vectors as float32. With <see cref="WeightMemory.Mapped"/>
/// a matrix kept as it is stored is used in place in the memory-mapped file (aligned ones, which is
/// all of them in files written by the usual tools); any other matrix, and every one with
/// <see cref="WeightMemory.HugePages"/>, is converted or copied once into native memory (in huge pages
/// where the kernel gives them), the file's pages dropped as it goes. Either way each weight is resident once.
/// </summary>
public sealed unsafe class ModelWeights : IDisposable
{
    private readonly List<SafeTensorsFile> files;
    private readonly List<IntPtr> allocations = [];
    private readonly HashSet<SafeTensorsFile> usedInPlace = [];
    private readonly Dictionary<string, (SafeTensorsFile File, TensorEntry Entry)> index;
    private bool disposed;

    private readonly WeightChoice choice;

    private ModelWeights(List<SafeTensorsFile> files, WeightChoice choice)
    {
        this.files = files;
        this.choice = choice;
        Memory = HugePageMemory.Resolve(choice.Memory);
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

    /// <summary>Bytes converted or copied into native memory (the rest is read in place from the mapped files).</summary>
    public long ConvertedBytes { get; private set; }

    /// <summary>Bytes of all matrices as kept (what decoding reads per token, the LM head once more when untied).</summary>
    public long MatrixBytes { get; private set; }

    /// <summary>Whether some matrix is kept with other values than stored (Q8, or a narrower float): its caches must not mix with the checkpoint's.</summary>
    public bool Rounded { get; private set; }

    public WeightChoice Choice => choice;

    /// <summary>Where the matrices live: <see cref="WeightChoice.Memory"/>, its <c>auto</c> resolved for this machine.</summary>
    public WeightMemory Memory { get; }

    /// <summary>Loads <c>model.safetensors</c>, or the shards named by <c>model.safetensors.index.json</c>.</summary>
    public static ModelWeights Load(string directory, ModelConfig config, WeightChoice? choice = null)
    {
        var weights = new ModelWeights(OpenFiles(directory), choice ?? WeightChoice.Auto);
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

    private Matrix Matrix(string name, long rows, long columns)
    {
        var (file, entry) = Locate(name, [rows, columns]);
        var source = file.Address(entry);
        var kept = choice.For(entry.Type);
        Rounded |= WeightChoice.Rounds(entry.Type, kept);
        MatrixBytes += Models.Matrix.BytesOf(rows, columns, kept);
        var (r, c) = (checked((int)rows), checked((int)columns));
        var asStored = (entry.Type, kept) is (TensorType.F32, WeightType.F32) or (TensorType.F16, WeightType.F16) or (TensorType.BF16, WeightType.BF16);
        var copied = asStored && BitConverter.IsLittleEndian; // the bytes as they are: no conversion
        if (copied && Memory == WeightMemory.Mapped && (long)source % TensorEntry.ElementSize(entry.Type) == 0)
        {
            usedInPlace.Add(file);
            return new Matrix(source, r, c, kept);
        }
        var valueSize = kept switch { WeightType.F32 => 4, WeightType.F16 or WeightType.BF16 => 2, _ => 1 };
        var data = Allocate(rows * columns * valueSize);
        var scales = kept == WeightType.Q8 ? (float*)Allocate(rows * Q8.Groups(columns) * sizeof(float)) : null;
        var size = TensorEntry.ElementSize(entry.Type);
        // Rows split over the cores (quantizing an 8B model is minutes on one), each worker a few rows
        // at a time through its own float32 scratch: bounded memory, whatever the matrix's size.
        var chunkRows = (int)Math.Max(1, (1 << 20) / columns);
        var (sourceAddress, dataAddress, scalesAddress) = ((nint)source, (nint)data, (nint)scales);
        Workers.ForRanges(r, chunkRows, (start, rowCount) =>
        {
            var scratch = copied ? [] : new float[chunkRows * c];
            for (long first = start; first < start + rowCount; first += chunkRows)
            {
                var count = (int)Math.Min(chunkRows, start + rowCount - first);
                var rowBytes = (long)c * size;
                if (copied)
                {
                    Buffer.MemoryCopy((byte*)sourceAddress + first * rowBytes, (byte*)dataAddress + first * rowBytes, count * rowBytes, count * rowBytes);
                }
                else
                {
                    ConvertRows((byte*)sourceAddress + first * rowBytes, entry.Type, scratch.AsSpan(0, count * c), kept,
                        (byte*)dataAddress, (float*)scalesAddress, first, count, c);
                }
                file.DropPages(entry, first * rowBytes, count * rowBytes);
            }
        });
        file.DropPages(entry); // the pages the blocks shared
        return new Matrix(data, r, c, kept, scales);
    }

    /// <summary>Rows <c>[first, first + count)</c> from the stored type to the kept one, through <paramref name="floats"/>.</summary>
    private static void ConvertRows(byte* source, TensorType stored, Span<float> floats, WeightType kept, byte* data, float* scales, long first, int count, int columns)
    {
        Numbers.ToSingle(new ReadOnlySpan<byte>(source, floats.Length * TensorEntry.ElementSize(stored)), stored, floats);
        var at = first * columns;
        switch (kept)
        {
            case WeightType.F32:
                floats.CopyTo(new Span<float>((float*)data + at, floats.Length));
                break;
            case WeightType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(floats, new Span<Half>((Half*)data + at, floats.Length));
                break;
            case WeightType.BF16:
                var halves = new Span<ushort>((ushort*)data + at, floats.Length);
                for (var i = 0; i < floats.Length; i++)
                {
                    halves[i] = Numbers.ToBFloat16(floats[i]);
                }
                break;
            default:
                var groups = Q8.Groups(columns);
                for (var k = 0; k < count; k++)
                {
                    Q8.Quantize(floats.Slice(k * columns, columns), new Span<sbyte>((sbyte*)data + at + (long)k * columns, columns),
                        new Span<float>(scales + (first + k) * groups, groups));
                }
                break;
        }
    }

    private void* Allocate(long bytes)
    {
        var memory = HugePageMemory.Allocate(bytes);
        allocations.Add((IntPtr)memory);
        ConvertedBytes += bytes;
        return memory;
    }

    private float* Vector(string name, long length)
    {
        var (file, entry) = Locate(name, [length]);
        var source = file.Address(entry);
        if (entry.Type == TensorType.F32 && Memory == WeightMemory.Mapped && BitConverter.IsLittleEndian && (long)source % 4 == 0)
        {
            usedInPlace.Add(file);
            return (float*)source;
        }
        var target = (float*)Allocate(length * sizeof(float));
        Numbers.ToSingle(new ReadOnlySpan<byte>(source, checked((int)(length * TensorEntry.ElementSize(entry.Type)))), entry.Type, new Span<float>(target, (int)length));
        return target;
    }

    private (SafeTensorsFile File, TensorEntry Entry) Locate(string name, long[] shape)
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
        return (file, entry);
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
