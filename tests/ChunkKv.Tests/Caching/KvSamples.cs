using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Inference.Kv;

namespace ChunkKv.Tests.Caching;

/// <summary>Synthetic K/V shaped like a real model's: Gaussian, with a few large outlier key channels (as KIVI observes).</summary>
internal static class KvSamples
{
    public static readonly byte[] Fingerprint = Enumerable.Range(0, 32).Select(i => (byte)(i * 7 + 1)).ToArray();

    /// <summary>The key the sample entries are the cache of.</summary>
    public static readonly ChunkCacheKey Key = ChunkCacheKey.Compute(Fingerprint, new Float32Codec(), [1, 2, 3]);

    public static KvCache Random(int layers = 3, int kvHeads = 2, int headDim = 64, int tokens = 100, int seed = 1, int firstPosition = 0)
    {
        var random = new Random(seed);
        var positions = Enumerable.Range(firstPosition, tokens).ToArray();
        var kv = new KvCache(layers, kvHeads, headDim, positions, KeyForm.PreRope);
        var width = kvHeads * headDim;
        for (var layer = 0; layer < layers; layer++)
        {
            for (var i = 0; i < kv.Keys[layer].Length; i++)
            {
                var outlier = i % width % 17 == 3 ? 8f : 1f;
                kv.Keys[layer][i] = outlier * Gaussian(random);
                kv.Values[layer][i] = Gaussian(random);
            }
        }
        return kv;
    }

    public static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
}
