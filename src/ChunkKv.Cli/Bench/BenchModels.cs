using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Bench;

/// <summary>Random benchmark weights at real shapes, written once into a cache folder (a real-shape model takes seconds to write).</summary>
public static class BenchModels
{
    public static string DefaultCache =>
        Environment.GetEnvironmentVariable("CHUNKKV_BENCH_MODELS") ?? Path.Combine(Path.GetTempPath(), "chunkkv-bench-models");

    /// <summary>The folder of the shape's weights (bf16), writing them first if needed.</summary>
    /// <param name="tokenizer">A folder whose tokenizer files are copied in (over any there), so the model reads text.</param>
    public static string Ensure(ModelShape shape, string cache, TextWriter progress, string? tokenizer = null)
    {
        var directory = Path.Combine(cache, shape.Name);
        if (!File.Exists(Path.Combine(directory, "model.safetensors")))
        {
            progress.WriteLine($"writing random {shape.Name} weights (bf16) to {directory} ...");
            var temporary = directory + ".tmp";
            RandomModel.Write(temporary, shape, seed: 1, TensorType.BF16);
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
            Directory.Move(temporary, directory);
        }
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            if (tokenizer is not null && File.Exists(Path.Combine(tokenizer, file)))
            {
                File.Copy(Path.Combine(tokenizer, file), Path.Combine(directory, file), overwrite: true);
            }
        }
        return directory;
    }
}
