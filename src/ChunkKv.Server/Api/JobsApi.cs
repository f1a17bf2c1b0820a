using ChunkKv.Evaluation;
using ChunkKv.Server.Jobs;
using ChunkKv.Server.Tenancy;

namespace ChunkKv.Server.Api;

/// <param name="Kind">"ingest" or "calibrate".</param>
/// <param name="DocumentId">An ingestion's document (null for a calibration).</param>
/// <param name="Stage">"indexing" (chunks embedded and indexed), "caching" (distinct chunk caches stored) or "calibrating" (prompts run); null until it starts.</param>
/// <param name="Done">Of <paramref name="Total"/>, in the current stage.</param>
/// <param name="Calibration">A finished calibration's outcome (also shown by <c>GET /v1/collections/{c}</c>).</param>
public sealed record JobView(string Id, string Kind, string State, string Collection, string? DocumentId, string? Stage, int Done, int Total,
    string? Error, IngestView? Result, CalibrationResult? Calibration, bool CancelRequested, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static JobView Of(Job job)
    {
        lock (job)
        {
            return new JobView(job.Id, job.Kind.ToString().ToLowerInvariant(), job.State.ToString().ToLowerInvariant(), job.Collection, job.DocumentId,
                job.Stage, job.Done, job.Total, job.Error, job.Result is { } r ? IngestView.Of(r) : null, job.Calibrated, job.CancelRequested,
                job.CreatedAt, job.UpdatedAt);
        }
    }
}

public sealed record JobList(IReadOnlyList<JobView> Jobs);

/// <summary><c>/v1/jobs</c>: the background work — ingestions of large documents, calibrations — list, progress, cancel.</summary>
public static class JobsApi
{
    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1/jobs").WithTags("Jobs");
        group.MapGet("/", List).WithName("ListJobs").Produces<JobList>();
        group.MapGet("/{id}", Get).WithName("GetJob").Produces<JobView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Cancel).WithName("CancelJob").Produces<JobView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        return endpoints;
    }

    private static IResult List(JobRunner jobs, HttpContext http) =>
        Results.Ok(new JobList(jobs.Store.OfTenant(http.Tenant().Name).Select(JobView.Of).ToList()));

    private static IResult Get(string id, JobRunner jobs, HttpContext http) =>
        Find(id, jobs, http) is { } job ? Results.Ok(JobView.Of(job)) : UnknownJob(id);

    /// <summary>202: the job will stop (a queued one has stopped); 409 when it has already ended.</summary>
    private static IResult Cancel(string id, JobRunner jobs, HttpContext http)
    {
        if (Find(id, jobs, http) is not { } job)
        {
            return UnknownJob(id);
        }
        return jobs.Cancel(job)
            ? Results.Accepted($"/v1/jobs/{id}", JobView.Of(job))
            : Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Job has ended",
                detail: $"job '{id}' is {job.State.ToString().ToLowerInvariant()}; there is nothing to cancel");
    }

    /// <summary>Another tenant's job is as unknown as one that never was.</summary>
    private static Job? Find(string id, JobRunner jobs, HttpContext http) =>
        jobs.Store.Find(id) is { } job && job.Tenant == http.Tenant().Name ? job : null;

    private static IResult UnknownJob(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown job", detail: $"job '{id}' does not exist");
}
