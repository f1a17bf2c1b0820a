using ChunkKv.Fusion;

namespace ChunkKv.Tests.Fusion;

public sealed class HiddenBuffersTests
{
    [Fact]
    public void The_largest_buffer_given_back_is_lent_again_to_rows_it_fits_and_not_to_far_fewer()
    {
        var buffers = new HiddenBuffers();
        var small = buffers.Take(100);
        var large = buffers.Take(1000);
        buffers.Give(large);
        buffers.Give(small); // smaller than the one kept: dropped

        Assert.Same(large, buffers.Take(900));
        Assert.NotSame(large, buffers.Take(900)); // lent out, so a second taker gets its own
        buffers.Give(large);
        Assert.NotSame(large, buffers.Take(100)); // far larger than needed: stays kept for rows that need it
        Assert.NotSame(large, buffers.Take(2000)); // too small
        Assert.Same(large, buffers.Take(1000));
    }
}
