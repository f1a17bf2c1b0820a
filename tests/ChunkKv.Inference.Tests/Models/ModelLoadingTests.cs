using System.Text.Json.Nodes;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tests.Models;

/// <summary>Loading real-layout directories, and the errors a broken one gives.</summary>
public sealed class ModelLoadingTests
{
    [Fact]
    public void A_random_model_past_the_shard_size_is_written_in_shards_with_an_index()
    {
        var shape = ModelShape.Find("tiny-llama3");
        var sharded = Fixtures.TempDirectory("random-sharded");
        RandomModel.Write(sharded, shape, seed: 1, maxShardBytes: 200_000);

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(sharded, "model.safetensors.index.json")))!;
        var shards = index["weight_map"]!.AsObject().Select(p => p.Value!.GetValue<string>()).Distinct().Order().ToList();
        Assert.True(shards.Count >= 2);
        Assert.Equal($"model-00001-of-{shards.Count:D5}.safetensors", shards[0]);
        Assert.Equal(shards.Sum(s => new FileInfo(Path.Combine(sharded, s)).Length) - shards.Sum(s => HeaderBytes(Path.Combine(sharded, s))),
            index["metadata"]!["total_size"]!.GetValue<long>());
        Assert.False(File.Exists(Path.Combine(sharded, "model.safetensors")));

        // The same draws as the one-file model: identical logits.
        int[] ids = [4, 8, 15, 16, 23, 42];
        using var one = LanguageModel.Load(TinyModels.Directory("tiny-llama3"));
        using var many = LanguageModel.Load(sharded, weights: Mapped);
        Assert.Equal(shards.Count, many.Transformer.Weights.Files.Count);
        Assert.Equal(one.Transformer.Prefill(ids, one.Transformer.NewSequence()), many.Transformer.Prefill(ids, many.Transformer.NewSequence()));
    }

    [Fact]
    public void A_directory_of_links_to_the_files_loads_as_the_hugging_face_cache_lays_them_out()
    {
        var source = TinyModels.Directory("tiny-qwen2");
        var linked = Fixtures.TempDirectory("linked");
        foreach (var file in Directory.GetFiles(source))
        {
            File.CreateSymbolicLink(Path.Combine(linked, Path.GetFileName(file)), file);
        }
        int[] ids = [4, 8, 15];
        using var direct = LanguageModel.Load(source);
        using var throughLinks = LanguageModel.Load(linked);
        Assert.Equal(direct.Transformer.Prefill(ids, direct.Transformer.NewSequence()), throughLinks.Transformer.Prefill(ids, throughLinks.Transformer.NewSequence()));
    }

    private static long HeaderBytes(string path)
    {
        using var stream = File.OpenRead(path);
        var length = new byte[8];
        stream.ReadExactly(length);
        return 8 + BitConverter.ToInt64(length);
    }

    [Fact]
    public void Sharded_weights_load_like_one_file()
    {
        var single = TinyModels.Directory("tiny-qwen2");
        var sharded = Fixtures.TempDirectory("sharded");
        File.Copy(Path.Combine(single, "config.json"), Path.Combine(sharded, "config.json"));
        using (var file = SafeTensorsFile.Open(Path.Combine(single, "model.safetensors")))
        {
            var map = new JsonObject();
            var groups = file.Tensors.Values.OrderBy(e => e.Name, StringComparer.Ordinal)
                .Select((e, i) => (Entry: e, Shard: i % 2)).GroupBy(x => x.Shard);
            foreach (var group in groups)
            {
                var name = $"model-0000{group.Key + 1}-of-00002.safetensors";
                var tensors = group.Select(x => new SafeTensorsWriter.Tensor(x.Entry.Name, TensorType.F32, x.Entry.Shape,
                    System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.Bytes(x.Entry)).ToArray())).ToList();
                SafeTensorsWriter.Write(Path.Combine(sharded, name), tensors);
                foreach (var x in group)
                {
                    map[x.Entry.Name] = name;
                }
            }
            File.WriteAllText(Path.Combine(sharded, "model.safetensors.index.json"), new JsonObject { ["weight_map"] = map }.ToJsonString());
        }
        int[] ids = [4, 8, 15, 16, 23, 42];
        using var a = LanguageModel.Load(single);
        using var b = LanguageModel.Load(sharded, weights: Mapped);
        Assert.Equal(2, b.Transformer.Weights.Files.Count);
        TransformerTests.AssertClose(a.Transformer.Prefill(ids, a.Transformer.NewSequence()),
            b.Transformer.Prefill(ids, b.Transformer.NewSequence()), 0);
    }

    [Fact]
    public void Weights_stay_as_stored_in_the_mapped_file_unless_another_type_is_asked_for()
    {
        using var f32 = LanguageModel.Load(TinyModels.Directory("tiny-mistral"), weights: Mapped);
        Assert.Equal(0, f32.Transformer.Weights.ConvertedBytes);
        Assert.Single(f32.Transformer.Weights.Files);

        // bf16 stays bf16, read in place: only the float32 vectors (norms) are converted.
        var directory = TinyModels.Directory("tiny-qwen3", "bf16");
        using var kept = LanguageModel.Load(directory, weights: Mapped);
        var weights = kept.Transformer.Weights;
        Assert.All(Matrices(weights), m => Assert.Equal(WeightType.BF16, m.Type));
        Assert.Single(weights.Files);
        Assert.InRange(weights.ConvertedBytes, 1, weights.MatrixBytes / 20);

        // Asked for float32, every matrix is converted once and the mapping released.
        using var widened = LanguageModel.Load(directory, weights: WeightChoice.Parse("f32"));
        Assert.All(Matrices(widened.Transformer.Weights), m => Assert.Equal(WeightType.F32, m.Type));
        Assert.Empty(widened.Transformer.Weights.Files);
        Assert.Equal(2 * weights.MatrixBytes, widened.Transformer.Weights.MatrixBytes);

        // The same values either way (bf16 widens exactly): the logits differ only by summation order.
        var a = kept.Transformer.Prefill([1, 2, 3, 4, 5, 6], kept.Transformer.NewSequence());
        var b = widened.Transformer.Prefill([1, 2, 3, 4, 5, 6], widened.Transformer.NewSequence());
        Assert.InRange(a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), 0, 1e-4);
        // Widening changes no value, so caches are shared; rounding (q8) changes them, so it must not share them.
        Assert.Equal(kept.Fingerprint, widened.Fingerprint);
        using var quantized = LanguageModel.Load(directory, weights: WeightChoice.Parse("q8"));
        Assert.NotEqual(kept.Fingerprint, quantized.Fingerprint);
        Assert.All(Matrices(quantized.Transformer.Weights), m => Assert.Equal(WeightType.Q8, m.Type));
    }

    [Theory]
    [InlineData("tiny-mistral", "f32")]
    [InlineData("tiny-qwen3", "bf16")]
    public void In_huge_pages_every_matrix_is_copied_and_the_mapping_released_with_the_same_values(string shape, string dtype)
    {
        var directory = TinyModels.Directory(shape, dtype);
        using var mapped = LanguageModel.Load(directory, weights: Mapped);
        using var copied = LanguageModel.Load(directory, weights: WeightChoice.Auto with { Memory = WeightMemory.HugePages });
        var weights = copied.Transformer.Weights;
        Assert.Equal(WeightMemory.HugePages, weights.Memory);
        Assert.Empty(weights.Files);
        Assert.True(weights.ConvertedBytes >= weights.MatrixBytes);
        Assert.Equal(mapped.Transformer.Weights.MatrixBytes, weights.MatrixBytes);
        Assert.All(Matrices(weights).Zip(Matrices(mapped.Transformer.Weights)), pair => Assert.Equal(pair.Second.Type, pair.First.Type));
        // The same bytes in other pages: the same logits to the bit, and the same model for the caches.
        int[] ids = [3, 1, 4, 1, 5, 9, 2, 6];
        Assert.Equal(mapped.Transformer.Prefill(ids, mapped.Transformer.NewSequence()), copied.Transformer.Prefill(ids, copied.Transformer.NewSequence()));
        Assert.Equal(mapped.Fingerprint, copied.Fingerprint);
    }

    [Fact]
    public void Weight_memory_is_parsed_from_its_names_and_refuses_others()
    {
        Assert.Equal(WeightMemory.Mapped, WeightChoice.Auto.WithMemory("mapped").Memory);
        Assert.Equal(WeightMemory.HugePages, WeightChoice.Parse("q8").WithMemory(" Huge-Pages ").Memory);
        Assert.Equal(WeightType.Q8, WeightChoice.Parse("q8").WithMemory("auto").Type);
        var error = Assert.Throws<FormatException>(() => WeightChoice.Auto.WithMemory("swap"));
        Assert.Contains("auto|mapped|huge-pages", error.Message, StringComparison.Ordinal);
    }

    private static readonly WeightChoice Mapped = WeightChoice.Auto with { Memory = WeightMemory.Mapped };

    private static IEnumerable<Matrix> Matrices(ModelWeights weights) =>
        weights.Layers.SelectMany(l => new[] { l.Query, l.Key, l.Value, l.Output, l.Gate, l.Up, l.Down })
            .Append(weights.Embedding).Append(weights.LanguageModelHead);

    [Fact]
    public void The_fingerprint_is_stable_and_changes_with_a_weight()
    {
        var directory = CopyOf(TinyModels.Directory("tiny-llama3"));
        string before;
        using (var model = LanguageModel.Load(directory))
        {
            before = model.Fingerprint;
        }
        using (var again = LanguageModel.Load(directory))
        {
            Assert.Equal(before, again.Fingerprint);
        }
        // Change one float in the middle of the first tensor's data.
        var path = Path.Combine(directory, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        var headerLength = BitConverter.ToInt64(bytes, 0);
        bytes[8 + headerLength + 9] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        using var changed = LanguageModel.Load(directory);
        Assert.NotEqual(before, changed.Fingerprint);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        var directory = CopyOf(TinyModels.Directory("tiny-mistral"));
        Rewrite(directory, tensors => tensors.Where(t => t.Name != "model.layers.1.mlp.up_proj.weight").ToList());
        var error = Assert.Throws<ModelFormatException>(() => LanguageModel.Load(directory));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_shape_is_named_with_both_shapes()
    {
        var directory = CopyOf(TinyModels.Directory("tiny-mistral"));
        Rewrite(directory, tensors => tensors.Select(t => t.Name == "model.norm.weight"
            ? t with { Shape = [t.Shape[0] / 2, 2] } : t).ToList());
        var error = Assert.Throws<ModelFormatException>(() => LanguageModel.Load(directory));
        Assert.Contains("'model.norm.weight' has shape [32, 2]; the config needs [64]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"architectures\": [\"GPT2LMHeadModel\"]", "GPT2LMHeadModel")]
    [InlineData("\"hidden_size\": \"wide\"", "'hidden_size'")]
    [InlineData("\"num_key_value_heads\": 3", "num_key_value_heads 3")]
    public void A_bad_config_is_named(string replacement, string expected)
    {
        var directory = CopyOf(TinyModels.Directory("tiny-mistral"));
        var configPath = Path.Combine(directory, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var patch = JsonNode.Parse("{" + replacement + "}")!.AsObject();
        foreach (var (key, value) in patch.ToList())
        {
            config[key] = value?.DeepClone();
        }
        File.WriteAllText(configPath, config.ToJsonString());
        var error = Assert.Throws<ModelFormatException>(() => LanguageModel.Load(directory));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_weights_file_is_refused_with_its_name()
    {
        var directory = CopyOf(TinyModels.Directory("tiny-mistral"));
        var path = Path.Combine(directory, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<ModelFormatException>(() => LanguageModel.Load(directory));
        Assert.Contains("model.safetensors", error.Message, StringComparison.Ordinal);
    }

    private static string CopyOf(string source)
    {
        var target = Fixtures.TempDirectory("copy");
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return target;
    }

    private static void Rewrite(string directory, Func<List<SafeTensorsWriter.Tensor>, List<SafeTensorsWriter.Tensor>> change)
    {
        var path = Path.Combine(directory, "model.safetensors");
        List<SafeTensorsWriter.Tensor> tensors;
        using (var file = SafeTensorsFile.Open(path))
        {
            tensors = file.Tensors.Values.Select(e => new SafeTensorsWriter.Tensor(e.Name, TensorType.F32, e.Shape,
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.Bytes(e)).ToArray())).ToList();
        }
        SafeTensorsWriter.Write(path, change(tensors));
    }

    [Fact]
    public void Dropping_a_converted_tensors_pages_loses_none_of_its_bytes()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(TinyModels.Directory("tiny-qwen3", "bf16"), "model.safetensors"));
        var largest = file.Tensors.Values.MaxBy(e => e.Length)!;
        Assert.True(largest.Length > 2 * Environment.SystemPageSize, "the tensor must span whole pages for any to be dropped");
        var before = file.Bytes(largest).ToArray();
        file.DropPages(largest, 1, largest.Length / 2); // a block not on page boundaries, as loading drops them
        Assert.Equal(before, file.Bytes(largest).ToArray());
        file.DropPages(largest);
        Assert.Equal(before, file.Bytes(largest).ToArray()); // read back from the page cache
        Assert.Throws<ArgumentOutOfRangeException>(() => file.DropPages(largest, 1, largest.Length));
    }

    [Fact]
    public void The_fingerprint_samples_a_tensor_over_two_gigabytes_and_sees_a_change_near_its_end()
    {
        // A sparse file: a 2.4 GB tensor (a large vocabulary in fp32 gets there) costs no disk.
        var directory = Fixtures.TempDirectory("big-tensor");
        var path = Path.Combine(directory, "model.safetensors");
        const long elements = 600_000_000;
        var header = System.Text.Encoding.UTF8.GetBytes(
            ("{\"big\": {\"dtype\": \"F32\", \"shape\": [" + elements + "], \"data_offsets\": [0, " + elements * 4 + "]}}").PadRight(104));
        using (var file = new FileStream(path, FileMode.Create))
        {
            file.Write(BitConverter.GetBytes((long)header.Length));
            file.Write(header);
            file.SetLength(8 + header.Length + elements * 4);
        }
        string Fingerprint()
        {
            using var weights = SafeTensorsFile.Open(path);
            return ModelFingerprint.Compute(directory, [weights]);
        }

        var before = Fingerprint();
        using (var file = new FileStream(path, FileMode.Open))
        {
            file.Position = 8 + header.Length + elements * 4 - 100; // in the last sample, 2.4 GB into the tensor
            file.WriteByte(1);
        }

        Assert.NotEqual(before, Fingerprint());
        Directory.Delete(directory, recursive: true);
    }
}
