using ChunkKv.Inference.Tensors;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Inference.Models;

/// <summary>A model directory loaded for use: config, weights, tokenizer (when present) and fingerprint.</summary>
public sealed class LanguageModel : IDisposable
{
    private LanguageModel(string directory, Transformer transformer, Tokenizer? tokenizer, string fingerprint)
    {
        Directory = directory;
        Transformer = transformer;
        Tokenizer = tokenizer;
        Fingerprint = fingerprint;
    }

    public string Directory { get; }
    public Transformer Transformer { get; }
    public ModelConfig Config => Transformer.Config;

    /// <summary>Null when the directory has no tokenizer.json (random test models).</summary>
    public Tokenizer? Tokenizer { get; }

    /// <summary>See <see cref="ModelFingerprint"/>.</summary>
    public string Fingerprint { get; }

    /// <summary>
    /// Loads a Hugging Face model directory: config.json (+ generation_config.json), the safetensors
    /// weights, and tokenizer.json when present. Errors name the file, field or tensor at fault.
    /// </summary>
    /// <param name="weights">How the matrices are kept in memory; null: as the checkpoint stores them.</param>
    public static LanguageModel Load(string directory, IGemm? gemm = null, WeightChoice? weights = null)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelFormatException($"model directory {directory} does not exist");
        }
        var configPath = Path.Combine(directory, "config.json");
        if (!File.Exists(configPath))
        {
            throw new ModelFormatException($"no config.json in {directory}");
        }
        var config = ModelConfig.Parse(File.ReadAllText(configPath));
        var generationPath = Path.Combine(directory, "generation_config.json");
        if (File.Exists(generationPath))
        {
            config = config.WithGenerationConfig(File.ReadAllText(generationPath));
        }
        var tokenizer = File.Exists(Path.Combine(directory, "tokenizer.json")) ? Tokenizer.FromDirectory(directory) : null;
        if (tokenizer is not null && config.EosTokenIds.Length == 0 && tokenizer.EosId is { } eos)
        {
            config = config with { EosTokenIds = [eos] };
        }
        var loaded = ModelWeights.Load(directory, config, weights);
        try
        {
            var fingerprint = ModelFingerprint.Compute(directory, loaded);
            loaded.ReleaseConvertedFiles();
            return new LanguageModel(directory, new Transformer(config, loaded, gemm), tokenizer, fingerprint);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    public void Dispose() => Transformer.Dispose();
}
