namespace ChunkKv.Server.Engine;

/// <summary>Who is asking for the engine: a query a user waits on goes before ingestion, which runs in slices.</summary>
public enum ComputePriority
{
    Query,
    Ingest,
}

/// <summary>
/// One computation on the engine at a time (both cores go to it; two would only slow each other),
/// granted queries first: when the engine frees, a waiting query gets it before a waiting slice of
/// ingestion. Ingestion takes the engine one slice at a time (an embedding batch, a chunk's cache),
/// so a query waits for at most one slice, not for a whole document.
/// </summary>
public sealed class ComputeGate
{
    private readonly Lock sync = new();
    private readonly Queue<TaskCompletionSource> queries = new();
    private readonly Queue<TaskCompletionSource> ingests = new();
    private bool held;

    /// <summary>Waits for the engine as a query; <see cref="Release"/> gives it back.</summary>
    public Task WaitAsync(CancellationToken cancellationToken = default) => WaitAsync(ComputePriority.Query, cancellationToken);

    public async Task WaitAsync(ComputePriority priority, CancellationToken cancellationToken = default)
    {
        TaskCompletionSource turn;
        lock (sync)
        {
            if (!held)
            {
                held = true;
                return;
            }
            turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (priority == ComputePriority.Query ? queries : ingests).Enqueue(turn);
        }
        try
        {
            await turn.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Given up: if the engine was handed over meanwhile, hand it on.
            if (!turn.TrySetCanceled(cancellationToken) && turn.Task.IsCompletedSuccessfully)
            {
                Release();
            }
            throw;
        }
    }

    /// <summary>The engine as an ingestion slice, released when disposed.</summary>
    public async Task<IAsyncDisposable> SliceAsync(CancellationToken cancellationToken)
    {
        await WaitAsync(ComputePriority.Ingest, cancellationToken);
        return new Held(this);
    }

    /// <summary>Gives the engine to the next query waiting, else the next slice of ingestion, else frees it.</summary>
    public void Release()
    {
        lock (sync)
        {
            while (queries.Count > 0 || ingests.Count > 0)
            {
                var next = queries.Count > 0 ? queries.Dequeue() : ingests.Dequeue();
                if (next.TrySetResult())
                {
                    return; // handed over: still held, by the next
                }
            }
            held = false;
        }
    }

    private sealed class Held(ComputeGate gate) : IAsyncDisposable
    {
        private int released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                gate.Release();
            }
            return ValueTask.CompletedTask;
        }
    }
}
