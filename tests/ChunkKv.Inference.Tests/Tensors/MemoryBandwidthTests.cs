using System.Runtime.InteropServices;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>The bandwidth probe reads every element once, whatever is left over after its four streams.</summary>
public sealed unsafe class MemoryBandwidthTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(1000)]
    [InlineData(4099)]
    public void Four_streams_sum_each_element_once(int length)
    {
        // Element i holds i + 1: a missed or repeated element moves the sum off n(n + 1)/2 (exact in float lanes at these sizes).
        var data = (float*)NativeMemory.Alloc((nuint)Math.Max(1, length) * sizeof(float));
        try
        {
            for (var i = 0; i < length; i++)
            {
                data[i] = i + 1;
            }
            Assert.Equal((double)length * (length + 1) / 2, MemoryBandwidth.SumAsFourStreams(data, length));
        }
        finally
        {
            NativeMemory.Free(data);
        }
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(-5, 1)]
    [InlineData(16, 0)]
    public void A_probe_of_no_memory_or_no_pass_is_refused(int megabytes, int passes) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryBandwidth.ReadGbps(megabytes, passes));

    [Fact]
    public void The_probe_reads_at_a_positive_rate()
    {
        var gbps = MemoryBandwidth.ReadGbps(megabytes: 64, passes: 1);
        Assert.True(double.IsFinite(gbps) && gbps > 0, $"{gbps} GB/s");
    }
}
