using ChunkKv.Server.Engine;

namespace ChunkKv.Server.Tests.Jobs;

/// <summary>The engine goes to queries before ingestion's slices, one at a time, and a waiter that gives up hands nothing on twice.</summary>
public sealed class ComputeGateTests
{
    [Fact]
    public async Task A_waiting_query_goes_before_slices_that_waited_longer()
    {
        var gate = new ComputeGate();
        await gate.WaitAsync(); // busy
        var order = new List<string>();
        // Each call queues its waiter before its first await returns, so the slice is queued first
        // whatever the threads do (with Task.Run and a delay, a busy machine could queue the query late).
        var slice = SliceThenRecord();
        var query = QueryThenRecord();
        await Task.Delay(100);
        Assert.Empty(order); // both wait while the engine is held

        gate.Release();
        await Task.WhenAll(slice, query).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["query", "slice"], order);
        await gate.WaitAsync().WaitAsync(TimeSpan.FromSeconds(1)); // free again

        async Task SliceThenRecord()
        {
            await using (await gate.SliceAsync(default))
            {
                order.Add("slice");
            }
        }

        async Task QueryThenRecord()
        {
            await gate.WaitAsync(ComputePriority.Query);
            order.Add("query");
            gate.Release();
        }
    }

    [Fact]
    public async Task A_waiter_that_gives_up_neither_gets_the_engine_nor_loses_it_for_others()
    {
        var gate = new ComputeGate();
        await gate.WaitAsync();
        using var giveUp = new CancellationTokenSource();
        var abandoned = gate.WaitAsync(ComputePriority.Query, giveUp.Token);
        var patient = gate.SliceAsync(default);
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);

        gate.Release();
        await using (await patient.WaitAsync(TimeSpan.FromSeconds(5)))
        {
            var other = gate.WaitAsync();
            Assert.NotSame(other, await Task.WhenAny(other, Task.Delay(100))); // the slice holds it
            _ = other.ContinueWith(_ => gate.Release(), TaskScheduler.Default);
        }
    }
}
