using System.Collections.Concurrent;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Tests;

/// <summary>The tiny random models of <see cref="ModelShape.Tiny"/>, written once per test run and loaded on demand.</summary>
internal static class TinyModels
{
    private static readonly ConcurrentDictionary<string, string> Directories = new();

    /// <summary>The directory of a tiny model (same bytes as tools/reference/make_reference.py uses).</summary>
    public static string Directory(string shape, string dtype = "f32", ulong seed = 1) =>
        Directories.GetOrAdd($"{shape}-{dtype}-{seed}", key =>
        {
            var directory = Fixtures.TempDirectory(key);
            var type = dtype switch { "f16" => TensorType.F16, "bf16" => TensorType.BF16, _ => TensorType.F32 };
            RandomModel.Write(directory, ModelShape.Find(shape), seed, type);
            return directory;
        });

    public static LanguageModel Load(string shape, string dtype = "f32") => LanguageModel.Load(Directory(shape, dtype));
}
