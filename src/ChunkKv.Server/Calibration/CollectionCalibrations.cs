using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Fusion;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Jobs;

namespace ChunkKv.Server.Calibration;

/// <summary>
/// The fidelity gate on the server: a collection's calibration runs the methods against <c>full</c>
/// on prompts made of its own chunks, in its own context (its prefix, its tenant's caches), on the
/// server's model, taking the engine a prompt at a time behind queries; the result is recorded
/// for that model and collection. Queries then take their default method from it and are warned
/// (or refused) when they ask for a method that failed it.
/// </summary>
public sealed class CollectionCalibrations(CollectionService service, CalibrationStore store)
{
    public CalibrationStore Store => store;

    /// <summary>Whether a query asking for a failed method is refused (<c>FailedCalibration=refuse</c>) rather than warned.</summary>
    public bool RefusesFailed => string.Equals(service.Options.FailedCalibration, "refuse", StringComparison.OrdinalIgnoreCase);

    /// <summary>The collection's calibration for the server's model; null when it has none.</summary>
    public CalibrationResult? Find(CollectionContext collection) => store.Find(collection.Name, service.Runtime.Model.Fingerprint);

    public async Task<CalibrationResult> CalibrateAsync(CollectionContext collection, CalibrationRequest request, Action<int, int> progress,
        Action started, CancellationToken cancellationToken)
    {
        var records = await CollectionPrompts.SampleAsync(service.Index, collection.Name, collection.PrefixText, request.Prompts,
            request.ChunksPerPrompt, request.Questions, cancellationToken: cancellationToken);
        var total = records.Count * request.Orders;
        var first = started;
        async Task<IAsyncDisposable> Slice(CancellationToken ct)
        {
            var held = await service.Compute.SliceAsync(ct);
            Interlocked.Exchange(ref first, null)?.Invoke();
            return held;
        }
        progress(0, total);
        var calibrator = new Calibrator(service.Runtime, _ => collection, Slice);
        var result = await calibrator.CalibrateAsync(records, new CalibrationTarget(request.Agreement, request.MeanKl), request.Orders,
            progress: done => progress(done, total), cancellationToken: cancellationToken);
        // Deleted while it ran: nothing is recorded (a collection made again by that name starts uncalibrated).
        if (await service.Index.GetCollectionAsync(collection.Name, cancellationToken) is null)
        {
            throw new CollectionNotFoundException(collection.Name);
        }
        store.Save(collection.Name, result);
        return result;
    }

    /// <summary>
    /// The method a query runs: the one it asked for, else the collection's calibrated default, else
    /// the server's; with the calibration's verdict on it (passed when uncalibrated).
    /// </summary>
    public (FusionMethod Method, CalibrationVerdict Verdict) Choose(CollectionContext collection, FusionMethod? asked)
    {
        var calibration = Find(collection);
        var method = asked ?? (calibration?.Default is { } calibrated ? FusionMethod.Parse(calibrated) : FusionMethod.Parse(service.Options.DefaultMethod));
        return (method, calibration is null ? new CalibrationVerdict(method.Name, null) : CalibrationJudgement.Judge(calibration, method));
    }
}
