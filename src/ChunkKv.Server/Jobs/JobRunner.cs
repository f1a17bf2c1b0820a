using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using ChunkKv.Chunking;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Calibration;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Observability;
using Microsoft.Extensions.Options;

namespace ChunkKv.Server.Jobs;

/// <summary>
/// Runs background jobs (ingestions and calibrations) one at a time, in the order they came, taking
/// the engine's compute lock in slices (the same lock a request's ingestion or answer takes, queries
/// first). At start-up it queues again every job a stopped server left unfinished. A cancelled
/// job's half-ingested document is removed; a job interrupted by the server stopping stays
/// unfinished on disk and runs again on the next start.
/// </summary>
public sealed class JobRunner(JobStore store, IServiceProvider services, IOptions<EngineOptions> options, ILogger<JobRunner> logger)
    : BackgroundService
{
    /// <summary>How often a running job's progress is written to its file (it is in memory at once).</summary>
    private static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(1);

    /// <summary>A job that fails for a passing reason runs again this many times, waiting <c>JobRetrySeconds</c>, twice that, ... between.</summary>
    public const int MaxRetries = 5;

    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _cancels = new(StringComparer.Ordinal);

    public JobStore Store => store;

    /// <summary>Saves the new job and queues it.</summary>
    public void Submit(Job job)
    {
        store.Add(job);
        _queue.Writer.TryWrite(job.Id);
    }

    /// <summary>Asks a job to stop; false when it has already ended. A queued job ends at once.</summary>
    public bool Cancel(Job job)
    {
        lock (job)
        {
            if (job.Finished)
            {
                return false;
            }
            job.CancelRequested = true;
            if (job.State == JobState.Queued && !_cancels.ContainsKey(job.Id))
            {
                (job.State, job.Text) = (JobState.Cancelled, null); // never started: nothing to undo
            }
            store.Save(job);
        }
        if (_cancels.TryGetValue(job.Id, out var running))
        {
            running.Cancel();
        }
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Model is not { Length: > 0 })
        {
            return; // no engine to ingest with; unfinished jobs wait for a start with a model
        }
        foreach (var job in store.Unfinished())
        {
            logger.LogInformation("resuming {Kind} job {Job} ({Collection})", job.Kind, job.Id, job.Collection);
            _queue.Writer.TryWrite(job.Id);
        }
        try
        {
            await foreach (var id in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                if (store.Find(id) is { Finished: false } job)
                {
                    await RunAsync(job, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The server is stopping: what is unfinished stays so on disk.
        }
    }

    private async Task RunAsync(Job job, CancellationToken stoppingToken)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _cancels[job.Id] = cancel;
        try
        {
            if (job.CancelRequested)
            {
                await cancel.CancelAsync();
            }
            var service = services.GetRequiredService<CollectionService>();
            var collection = await service.FindAsync(job.StoredCollection, job.Tenant, cancel.Token)
                ?? throw new CollectionNotFoundException(job.StoredCollection);
            var sinceSave = Stopwatch.StartNew();
            void Progress(string stage, int done, int total)
            {
                var save = sinceSave.Elapsed > SaveEvery;
                if (save)
                {
                    sinceSave.Restart();
                }
                Update(job, j => (j.Stage, j.Done, j.Total) = (stage, done, total), save);
            }
            void Started() => Update(job, j => j.State = JobState.Running);
            if (job.Kind == JobKind.Calibrate)
            {
                var calibrated = await services.GetRequiredService<CollectionCalibrations>()
                    .CalibrateAsync(collection, job.Calibration!, (done, total) => Progress("calibrating", done, total), Started, cancel.Token);
                Update(job, j => (j.State, j.Calibrated) = (JobState.Succeeded, calibrated));
                return;
            }
            var progress = new SynchronousProgress<IngestProgress>(p => Progress(p.Stage.ToString().ToLowerInvariant(), p.Done, p.Total));
            var format = job.Format == "markdown" ? DocumentFormat.Markdown : DocumentFormat.PlainText;
            var result = await service.IngestAsync(collection, new DocumentInput(job.DocumentId!, job.Text ?? "", format, job.Metadata),
                progress, cancel.Token, started: Started);
            Update(job, j => (j.State, j.Result, j.Text) = (JobState.Succeeded, result, null));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested && !job.CancelRequested)
        {
            Update(job, j => j.State = JobState.Queued); // resumes when the server starts again
        }
        catch (OperationCanceledException) when (job.CancelRequested)
        {
            await RemovePartialAsync(job);
            Update(job, j => (j.State, j.Text) = (JobState.Cancelled, null));
        }
        catch (Exception e) when (IsPassing(e) && job.Retries < MaxRetries && !stoppingToken.IsCancellationRequested)
        {
            // A store that is down comes back: keep the text and run again later (the pipeline resumes).
            var wait = TimeSpan.FromSeconds(options.Value.JobRetrySeconds) * (1 << job.Retries);
            logger.LogWarning("{Kind} job {Job} failed ({Error}); running it again in {Wait}", job.Kind, job.Id, e.Message, wait);
            Update(job, j => (j.State, j.Error, j.Retries) = (JobState.Queued, $"retrying after: {e.Message}", j.Retries + 1));
            _ = RequeueAfterAsync(job.Id, wait, stoppingToken);
        }
        catch (Exception e)
        {
            logger.LogWarning("{Kind} job {Job} failed: {Error}", job.Kind, job.Id, e.Message);
            var error = e is CollectionNotFoundException ? $"collection '{job.Collection}' was deleted" : e.Message;
            Update(job, j => (j.State, j.Error, j.Text) = (JobState.Failed, error, null));
        }
        finally
        {
            _cancels.TryRemove(job.Id, out _);
        }
    }

    /// <summary>Faults of a store or an endpoint that are expected to pass: the database, Redis or the embedder down for a while.</summary>
    private static bool IsPassing(Exception e) => e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException
        or Caching.KvStoreWriteException or Retrieval.Embedding.EmbeddingException { Transient: true };

    private async Task RequeueAfterAsync(string id, TimeSpan wait, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(wait, stoppingToken);
            _queue.Writer.TryWrite(id);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the job is saved as queued and resumes at the next start.
        }
    }

    /// <summary>A cancelled document is not left half-way in the index; the caches it stored stay (they are reusable).</summary>
    private async Task RemovePartialAsync(Job job)
    {
        if (job.Kind != JobKind.Ingest)
        {
            return; // a calibration records nothing until it has finished
        }
        try
        {
            var service = services.GetRequiredService<CollectionService>();
            if (await service.Index.GetCollectionAsync(job.StoredCollection) is { } info
                && await service.Index.GetDocumentAsync(job.StoredCollection, job.DocumentId!) is { Status: DocumentStatus.Ingesting })
            {
                await service.Context(info, job.Tenant).DeleteDocumentAsync(job.DocumentId!);
            }
        }
        catch (Exception e) when (e is CollectionNotFoundException or InvalidOperationException)
        {
            // The collection went, or the document is already gone: nothing is left to remove.
        }
    }

    private void Update(Job job, Action<Job> change, bool save = true)
    {
        lock (job)
        {
            change(job);
            if (save)
            {
                store.Save(job);
            }
        }
    }

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
