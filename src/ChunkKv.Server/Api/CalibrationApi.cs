using ChunkKv.Server.Engine;
using ChunkKv.Server.Jobs;
using ChunkKv.Server.Tenancy;

namespace ChunkKv.Server.Api;

/// <summary>Every field may be left out: 16 prompts of 4 consecutive chunks, 2 chunk orders, agreement ≥ 0.99 and mean KL ≤ 0.01.</summary>
/// <param name="Questions">Asked of the prompts in turn (a sample of real traffic calibrates best); none: a question about a name in the chunks.</param>
public sealed record CalibrateBody(int? Prompts = null, int? Orders = null, int? ChunksPerPrompt = null, double? Agreement = null, double? Kl = null,
    IReadOnlyList<string?>? Questions = null);

/// <summary>
/// <c>POST /v1/collections/{name}/calibrate</c>: the fidelity gate as a background job (202, its progress at
/// <c>/v1/jobs/{id}</c>). When it ends, <c>GET /v1/collections/{name}</c> shows the calibration, queries
/// that name no method take its default, and a query asking for a method that failed it is warned
/// (or refused: <c>FailedCalibration</c>).
/// </summary>
public static class CalibrationApi
{
    public const int MaxPrompts = 256;
    public const int MaxOrders = 8;
    public const int MaxQuestions = 256;

    public static IEndpointRouteBuilder MapCalibrationApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/collections/{name}/calibrate", CalibrateAsync).WithName("CalibrateCollection").WithTags("Collections")
            .Produces<JobView>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        return endpoints;
    }

    private static async Task<IResult> CalibrateAsync(string name, CalibrateBody? body, CollectionService service, JobRunner jobs, HttpContext http,
        CancellationToken cancellationToken)
    {
        body ??= new CalibrateBody();
        var limits = service.Options;
        var errors = new Dictionary<string, string[]>();
        var request = new CalibrationRequest(body.Prompts ?? 16, body.Orders ?? 2, body.ChunksPerPrompt ?? 4, body.Agreement ?? 0.99, body.Kl ?? 0.01,
            body.Questions?.Select(q => q ?? "").ToList());
        if (request.Prompts is < 1 or > MaxPrompts)
        {
            errors["prompts"] = [$"prompts is from 1 to {MaxPrompts}"];
        }
        if (request.Orders is < 1 or > MaxOrders)
        {
            errors["orders"] = [$"orders is from 1 to {MaxOrders}"];
        }
        if (request.ChunksPerPrompt < 1 || request.ChunksPerPrompt > limits.MaxTopK)
        {
            errors["chunks_per_prompt"] = [$"chunks_per_prompt is from 1 to {limits.MaxTopK} (the most a query retrieves)"];
        }
        if (!(request.Agreement is > 0 and <= 1))
        {
            errors["agreement"] = ["agreement is a share greater than 0 and at most 1"];
        }
        if (!(request.MeanKl >= 0 && double.IsFinite(request.MeanKl)))
        {
            errors["kl"] = ["kl is a mean KL divergence in nats, 0 or more"];
        }
        if (request.Questions is { } questions)
        {
            if (questions.Count > MaxQuestions)
            {
                errors["questions"] = [$"at most {MaxQuestions} questions"];
            }
            else if (questions.FirstOrDefault(q => string.IsNullOrWhiteSpace(q) || TextChecks.HasLoneSurrogate(q)
                         || TextChecks.Characters(q) > limits.MaxQuestionCharacters) is { } bad)
            {
                errors["questions"] = [$"each question is text of 1 to {limits.MaxQuestionCharacters} characters: '{Shorten(bad)}' is not"];
            }
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var tenant = http.Tenant();
        var (context, problem) = await service.FindCollectionAsync(tenant, name, cancellationToken);
        if (context is null)
        {
            return problem!;
        }
        var documents = await service.Index.ListDocumentsAsync(context.Name, after: null, Evaluation.CollectionPrompts.MaxDocuments, cancellationToken);
        if (!documents.Any(d => d.Status == Retrieval.Indexing.DocumentStatus.Ready && d.ChunkCount > 0))
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Nothing to calibrate on",
                detail: $"collection '{name}' has no ingested document: calibration samples its prompts from the collection's own chunks");
        }
        var job = new Job
        {
            Id = Guid.NewGuid().ToString("N"), Kind = JobKind.Calibrate, Tenant = tenant.Name, Collection = name, StoredCollection = context.Name,
            Calibration = request, CreatedAt = DateTimeOffset.UtcNow,
        };
        jobs.Submit(job);
        return Results.Accepted($"/v1/jobs/{job.Id}", JobView.Of(job));
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
