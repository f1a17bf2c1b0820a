using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Tests;

/// <summary>A tiny random Qwen3-architecture model that reads real Qwen3 tokens (its vocabulary widened to the tokenizer's).</summary>
internal static class ModelFixtures
{
    private static readonly Lazy<string> TinyQwen3Directory = new(() =>
    {
        var directory = Fixtures.TempDirectory("tiny-qwen3-tokenized");
        RandomModel.Write(directory, ModelShape.Find("tiny-qwen3") with { VocabSize = 151_936 }, seed: 5);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(Fixtures.TokenizerDirectory("qwen3"), file), Path.Combine(directory, file));
        }
        return directory;
    });

    /// <summary>Loads a fresh instance (callers dispose it); the files are written once per test run.</summary>
    public static LanguageModel TinyQwen3() => LanguageModel.Load(TinyQwen3Directory.Value);
}
