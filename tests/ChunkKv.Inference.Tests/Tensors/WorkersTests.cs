using System.Collections.Concurrent;
using ChunkKv.Inference.Tensors;

namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>The engine's pool: every part once, errors surfaced, concurrent and nested callers served.</summary>
public sealed class WorkersTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(257)]
    public void For_runs_every_part_exactly_once(int parts)
    {
        var runs = new int[parts];
        Workers.For(parts, part => Interlocked.Increment(ref runs[part]));
        Assert.All(runs, count => Assert.Equal(1, count));
    }

    [Fact]
    public void A_pool_runs_parts_on_its_helpers_as_well_as_on_the_caller()
    {
        // A pool of its own: the process-wide one may be held by another test class running at the
        // same time, and then (by design) its caller runs every part alone.
        var pool = new WorkerPool(helpers: 1, spin: TimeSpan.FromMilliseconds(5));
        var threads = new ConcurrentDictionary<int, bool>();
        // Parts long enough that the caller cannot finish them all before the helper takes one.
        Assert.True(pool.TryRun(8, _ =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            Thread.Sleep(20);
        }));
        Assert.Equal(2, threads.Count);
    }

    [Fact]
    public async Task A_pool_owned_by_one_caller_turns_a_second_away_without_running_anything()
    {
        var pool = new WorkerPool(helpers: 1, spin: TimeSpan.FromMilliseconds(5));
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var owner = Task.Run(() => pool.TryRun(1, _ => { inside.Set(); release.Wait(); }));
        inside.Wait();
        var ranSecond = false;
        Assert.False(pool.TryRun(4, _ => ranSecond = true));
        Assert.False(ranSecond);
        release.Set();
        Assert.True(await owner);
    }

    [Fact]
    public void A_failing_part_is_rethrown_as_itself_and_the_pool_keeps_working()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            Workers.For(16, part => { if (part == 5) { throw new InvalidOperationException("part 5"); } }));
        Assert.Equal("part 5", error.Message);
        For_runs_every_part_exactly_once(64);
    }

    [Fact]
    public void Concurrent_and_nested_callers_each_get_all_their_parts()
    {
        var totals = new long[6];
        Parallel.For(0, totals.Length, new ParallelOptions { MaxDegreeOfParallelism = totals.Length }, caller =>
        {
            for (var round = 0; round < 200; round++)
            {
                Workers.For(4, outer => Workers.For(3, inner => Interlocked.Add(ref totals[caller], 1 + outer * 3 + inner)));
            }
        });
        // Each round adds 1 + 2 + ... + 12 = 78.
        Assert.All(totals, total => Assert.Equal(200 * 78, total));
    }
}
