using ChunkKv.Inference.Kv;

namespace ChunkKv.Inference.Tests.Kv;

public sealed class KvSequenceTests
{
    [Fact]
    public void A_full_sequence_is_shared_as_a_cache_without_copying()
    {
        var sequence = Filled(capacity: 3, tokens: 3);
        var cache = sequence.ShareAsCache();
        Assert.Same(sequence.Keys[1], cache.Keys[1]);
        Assert.Same(sequence.Values[0], cache.Values[0]);
        Assert.Equal([5, 6, 7], cache.Positions);
        Assert.Equal(KeyForm.PostRope, cache.KeyForm);
    }

    [Fact]
    public void A_partly_filled_sequence_is_copied_to_exactly_its_slots()
    {
        var sequence = Filled(capacity: 8, tokens: 3);
        var cache = sequence.ShareAsCache();
        Assert.NotSame(sequence.Keys[1], cache.Keys[1]);
        Assert.Equal(3, cache.Tokens);
        Assert.Equal(sequence.Keys[1].AsSpan(0, 3 * sequence.RowWidth).ToArray(), cache.Keys[1]);
        Assert.Equal(sequence.Values[1].AsSpan(0, 3 * sequence.RowWidth).ToArray(), cache.Values[1]);
    }

    private static KvSequence Filled(int capacity, int tokens)
    {
        var sequence = new KvSequence(layers: 2, kvHeads: 2, headDim: 4, capacity);
        sequence.Reserve(Enumerable.Range(5, tokens).ToArray());
        for (var layer = 0; layer < sequence.Layers; layer++)
        {
            for (var i = 0; i < tokens * sequence.RowWidth; i++)
            {
                sequence.Keys[layer][i] = layer * 100 + i;
                sequence.Values[layer][i] = -(layer * 100 + i);
            }
        }
        return sequence;
    }
}
