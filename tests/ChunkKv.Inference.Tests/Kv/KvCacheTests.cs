using ChunkKv.Inference.Kv;

namespace ChunkKv.Inference.Tests.Kv;

public sealed class KvCacheTests
{
    [Fact]
    public void A_new_cache_has_one_zeroed_tokens_by_heads_by_dim_array_per_layer()
    {
        var kv = new KvCache(layers: 3, kvHeads: 2, headDim: 4, positions: [5, 6, 7], KeyForm.PostRope);

        Assert.Equal((3, 3, 8), (kv.Layers, kv.Tokens, kv.RowWidth));
        Assert.All(kv.Keys.Concat(kv.Values), layer => Assert.Equal(new float[24], layer));
        Assert.NotSame(kv.Keys[0], kv.Keys[1]);
    }

    [Fact]
    public void Arrays_of_the_wrong_size_are_refused_naming_the_layer_and_the_shape()
    {
        float[][] keys = [new float[8], new float[7]];
        float[][] values = [new float[8], new float[8]];

        var error = Assert.Throws<ArgumentException>(() => new KvCache(1, 4, [0, 1], KeyForm.PreRope, keys, values));

        Assert.Contains("layer 1", error.Message);
        Assert.Contains("2 tokens x 1 heads x 4", error.Message);
    }

    [Fact]
    public void Key_and_value_layer_counts_must_agree()
    {
        Assert.Throws<ArgumentException>(() =>
            new KvCache(1, 1, [0], KeyForm.PreRope, [new float[1]], [new float[1], new float[1]]));
    }
}
