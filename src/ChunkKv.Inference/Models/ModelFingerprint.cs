using System.Security.Cryptography;
using System.Text;

namespace ChunkKv.Inference.Models;

/// <summary>
/// A stable hash that changes whenever the model computes differently, so that a changed model never
/// reuses old caches. It covers config.json, tokenizer.json, every safetensors header (names, types,
/// shapes, offsets) and, per tensor, up to three 4 KiB samples of its bytes (start, middle, end).
/// Sampling every tensor, rather than hashing gigabytes at each start-up, still catches fine-tunes and
/// merged adapters, which change whole matrices; edits confined to a few bytes mid-tensor are the gap.
/// </summary>
public static class ModelFingerprint
{
    private const int SampleBytes = 4096;

    /// <summary>The fingerprint of the loaded weights; kept with other values than stored (Q8, a narrower float), the choice is part of it.</summary>
    public static string Compute(string directory, ModelWeights weights) =>
        Compute(directory, weights.Files, weights.Rounded ? $"weights={weights.Choice}" : null);

    /// <summary>The fingerprint of a model directory's config, tokenizer and mapped weight files.</summary>
    public static string Compute(string directory, IReadOnlyList<SafeTensorsFile> files, string? weightForm = null)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, "chunkkv-model-fingerprint-v1");
        if (weightForm is not null)
        {
            Append(hash, weightForm);
        }
        foreach (var name in new[] { "config.json", "tokenizer.json" })
        {
            var path = Path.Combine(directory, name);
            Append(hash, name);
            if (File.Exists(path))
            {
                hash.AppendData(File.ReadAllBytes(path));
            }
        }
        foreach (var file in files)
        {
            Append(hash, Path.GetFileName(file.Path));
            hash.AppendData(file.HeaderBytes);
            foreach (var entry in file.Tensors.Values.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                // Offsets are long: one tensor can pass 2 GiB (a large vocabulary's embeddings in fp32).
                foreach (var start in new[] { 0L, entry.Length / 2, entry.Length - SampleBytes })
                {
                    var from = Math.Clamp(start, 0, entry.Length);
                    hash.AppendData(file.Bytes(entry, from, (int)Math.Min(SampleBytes, entry.Length - from)));
                }
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void Append(IncrementalHash hash, string text) => hash.AppendData(Encoding.UTF8.GetBytes(text + "\0"));
}
