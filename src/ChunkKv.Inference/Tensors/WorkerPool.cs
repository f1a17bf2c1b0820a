using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;

namespace ChunkKv.Inference.Tensors;

/// <summary>
/// Helper threads that stay awake across the many short parallel steps of a forward pass. A layer
/// alternates parallel GEMMs with short steps in between; the .NET thread pool parks its threads in
/// those gaps, and waking a parked vCPU on these VMs made the next GEMM 15-25 % slower (measured at
/// 512 tokens). So a helper spins for a while after each job (<c>CHUNKKV_SPIN_MS</c>) before it blocks.
/// One caller owns the pool at a time; a second concurrent caller (another request, or a nested
/// call) runs its parts on its own thread, which shares the cores just as well.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "One pool lives as long as the process; its helpers are background threads.")]
internal sealed class WorkerPool
{
    private readonly SemaphoreSlim wake = new(0);
    private readonly long spinTicks;
    private int owned;
    private int sleepers;
    private long generation;
    private Job? current;

    public WorkerPool(int helpers, TimeSpan spin)
    {
        spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; i < helpers; i++)
        {
            new Thread(Help) { IsBackground = true, Name = $"chunkkv-worker-{i + 1}" }.Start();
        }
    }

    /// <summary>Runs <paramref name="body"/> for each part on the caller and the helpers; false (nothing run) when another caller owns the pool.</summary>
    public bool TryRun(int parts, Action<int> body)
    {
        if (Interlocked.CompareExchange(ref owned, 1, 0) != 0)
        {
            return false;
        }
        try
        {
            var job = new Job(parts, body);
            Volatile.Write(ref current, job);
            Interlocked.Increment(ref generation);
            var asleep = Volatile.Read(ref sleepers);
            if (asleep > 0)
            {
                wake.Release(asleep);
            }
            job.Work();
            job.WaitUntilDone();
            job.Error?.Throw();
            return true;
        }
        finally
        {
            Volatile.Write(ref owned, 0);
        }
    }

    private void Help()
    {
        var seen = 0L;
        while (true)
        {
            var idleSince = Stopwatch.GetTimestamp();
            var spinner = default(SpinWait);
            Job? job;
            while ((job = TakeNew(ref seen)) is null)
            {
                if (Stopwatch.GetTimestamp() - idleSince < spinTicks)
                {
                    spinner.SpinOnce(sleep1Threshold: -1); // spins, then yields the core to anything runnable; never sleeps
                    continue;
                }
                Interlocked.Increment(ref sleepers);
                // Checked again after counting ourselves asleep: a caller that published before
                // reading the count is seen here; one that published after will release us.
                if ((job = TakeNew(ref seen)) is null)
                {
                    wake.Wait();
                }
                Interlocked.Decrement(ref sleepers);
                idleSince = Stopwatch.GetTimestamp();
                spinner = default;
                if (job is not null)
                {
                    break;
                }
            }
            job.Work();
        }
    }

    private Job? TakeNew(ref long seen)
    {
        var latest = Volatile.Read(ref generation);
        if (latest == seen)
        {
            return null;
        }
        seen = latest;
        return Volatile.Read(ref current);
    }

    private sealed class Job(int parts, Action<int> body)
    {
        private readonly int parts = parts;
        private int next = -1;
        private int remaining = parts;
        private ExceptionDispatchInfo? error;

        public ExceptionDispatchInfo? Error => Volatile.Read(ref error);

        /// <summary>Claims and runs parts until none is left; a part's exception is kept for the caller.</summary>
        public void Work()
        {
            int part;
            while ((part = Interlocked.Increment(ref next)) < parts)
            {
                try
                {
                    body(part);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, ExceptionDispatchInfo.Capture(e), null);
                }
                Interlocked.Decrement(ref remaining);
            }
        }

        public void WaitUntilDone()
        {
            var spinner = default(SpinWait);
            while (Volatile.Read(ref remaining) > 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
        }
    }
}
