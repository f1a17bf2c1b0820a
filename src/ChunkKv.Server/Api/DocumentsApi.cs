using System.Text.Json.Nodes;
using ChunkKv.Chunking;
using ChunkKv.Pipeline;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Jobs;
using ChunkKv.Server.Tenancy;
using ChunkKv.Server.Observability;

namespace ChunkKv.Server.Api;

public sealed record DocumentBody(string? Id, string? Text, string? Format, JsonObject? Metadata);

public sealed record DocumentView(string Id, string Status, int Chunks, JsonObject Metadata);

/// <param name="NextAfter">Pass as <c>after</c> for the next page; null on the last page.</param>
public sealed record DocumentList(IReadOnlyList<DocumentView> Documents, string? NextAfter);

public sealed record IngestView(string Id, string Outcome, int Chunks, int Tokens, int CachesComputed, double Seconds)
{
    public static IngestView Of(IngestResult result) => new(result.DocumentId, result.Outcome.ToString().ToLowerInvariant(), result.Chunks,
        result.Tokens, result.CachesComputed, result.Elapsed.TotalSeconds);
}

/// <summary>
/// <c>/v1/collections/{collection}/documents</c>: add as JSON (or as a <c>text/plain</c> / <c>text/markdown</c>
/// body with <c>?id=</c>), list (paged by id), get, delete. A small document is searchable, with every chunk's cache stored, when
/// the add returns (201); a large one (over <c>BackgroundAboveCharacters</c>, or any with <c>?background=true</c>) becomes a
/// background job (202, its progress at <c>/v1/jobs/{id}</c>).
/// </summary>
public static class DocumentsApi
{
    public static IEndpointRouteBuilder MapDocumentsApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1/collections/{collection}/documents").WithTags("Documents");
        group.MapPost("/", AddAsync).WithName("AddDocument").Accepts<DocumentBody>("application/json", "text/plain", "text/markdown")
            .Produces<IngestView>(StatusCodes.Status201Created).Produces<JobView>(StatusCodes.Status202Accepted).ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/", ListAsync).WithName("ListDocuments").Produces<DocumentList>().ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{id}", GetAsync).WithName("GetDocument").Produces<DocumentView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", DeleteAsync).WithName("DeleteDocument").Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    private static async Task<IResult> AddAsync(string collection, HttpRequest http, CollectionService service, JobRunner jobs,
        CancellationToken cancellationToken)
    {
        DocumentBody? body;
        var mediaType = http.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        if (mediaType is "text/plain" or "text/markdown")
        {
            using var reader = new StreamReader(http.Body);
            body = new DocumentBody(http.Query["id"], await reader.ReadToEndAsync(cancellationToken),
                mediaType == "text/markdown" ? "markdown" : "text", null);
        }
        else if (mediaType == "application/json")
        {
            try
            {
                body = await http.ReadFromJsonAsync<DocumentBody>(cancellationToken);
            }
            catch (System.Text.Json.JsonException e)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: e.Message);
            }
        }
        else
        {
            return Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type",
                detail: "send application/json, text/plain or text/markdown");
        }
        if (body is null)
        {
            return Problems.Invalid("body", "a document is required");
        }
        var errors = new Dictionary<string, string[]>();
        if (CollectionsApi.NameProblem(body.Id) is { } idProblem)
        {
            errors["id"] = [idProblem.Replace("a name", "an id", StringComparison.Ordinal)];
        }
        if (string.IsNullOrWhiteSpace(body.Text))
        {
            errors["text"] = ["the document has no text"];
        }
        else if (TextChecks.HasLoneSurrogate(body.Text))
        {
            errors["text"] = [$"the document {TextChecks.LoneSurrogate}"];
        }
        else if (body.Text.Length > service.Options.MaxDocumentCharacters)
        {
            errors["text"] = [$"the document has {body.Text.Length} UTF-16 code units; the limit is {service.Options.MaxDocumentCharacters}"];
        }
        DocumentFormat format = DocumentFormat.PlainText;
        if (body.Format is not (null or "text" or "markdown"))
        {
            errors["format"] = ["format is 'text' or 'markdown'"];
        }
        else if (body.Format == "markdown")
        {
            format = DocumentFormat.Markdown;
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var background = http.Query["background"].ToString();
        if (background is not ("" or "true" or "false"))
        {
            return Problems.Invalid("background", "background is 'true' or 'false'");
        }
        var tenant = http.HttpContext.Tenant();
        var stored = tenant.Stored(collection);
        var (context, problem) = await service.FindCollectionAsync(tenant, collection, cancellationToken);
        if (context is null)
        {
            return problem!;
        }
        if (background == "true" || (background == "" && body.Text!.Length > service.Options.BackgroundAboveCharacters))
        {
            var job = new Job
            {
                Id = Guid.NewGuid().ToString("N"), Tenant = tenant.Name, Collection = collection, StoredCollection = stored,
                DocumentId = body.Id!, Format = format == DocumentFormat.Markdown ? "markdown" : "text", Metadata = body.Metadata,
                Text = body.Text, CreatedAt = DateTimeOffset.UtcNow,
            };
            jobs.Submit(job);
            return Results.Accepted($"/v1/jobs/{job.Id}", JobView.Of(job));
        }
        var result = await service.IngestAsync(context, new DocumentInput(body.Id!, body.Text!, format, body.Metadata), progress: null,
            cancellationToken);
        var view = IngestView.Of(result);
        return result.Outcome == IngestOutcome.Unchanged ? Results.Ok(view) : Results.Created($"/v1/collections/{collection}/documents/{result.DocumentId}", view);
    }

    public const int MaxPageSize = 1000;

    /// <summary><c>?limit=</c> (1 to 1000, default 100) documents after <c>?after=</c>, by id in ordinal order.</summary>
    private static async Task<IResult> ListAsync(string collection, string? after, string? limit, CollectionService service, HttpContext http,
        CancellationToken cancellationToken)
    {
        var size = 100;
        if (limit is not null && !(int.TryParse(limit, System.Globalization.CultureInfo.InvariantCulture, out size) && size is >= 1 and <= MaxPageSize))
        {
            return Problems.Invalid("limit", $"limit is a whole number from 1 to {MaxPageSize}, not '{limit}'");
        }
        var stored = http.Tenant().Stored(collection);
        if (await service.Index.GetCollectionAsync(stored, cancellationToken) is null)
        {
            return Problems.UnknownCollection(collection);
        }
        var page = await service.Index.ListDocumentsAsync(stored, string.IsNullOrEmpty(after) ? null : after, size, cancellationToken);
        return Results.Ok(new DocumentList(page.Select(View).ToList(), page.Count == size ? page[^1].ExternalId : null));
    }

    private static DocumentView View(Retrieval.Indexing.DocumentInfo d) =>
        new(d.ExternalId, d.Status.ToString().ToLowerInvariant(), d.ChunkCount, d.Metadata);

    private static async Task<IResult> GetAsync(string collection, string id, CollectionService service, HttpContext http, CancellationToken cancellationToken)
    {
        var stored = http.Tenant().Stored(collection);
        if (await service.Index.GetCollectionAsync(stored, cancellationToken) is null)
        {
            return Problems.UnknownCollection(collection);
        }
        return await service.Index.GetDocumentAsync(stored, id, cancellationToken) is { } d
            ? Results.Ok(View(d))
            : Problems.UnknownDocument(collection, id);
    }

    private static async Task<IResult> DeleteAsync(string collection, string id, CollectionService service, HttpContext http, CancellationToken cancellationToken)
    {
        var tenant = http.Tenant();
        if (await service.Index.GetCollectionAsync(tenant.Stored(collection), cancellationToken) is not { } info)
        {
            return Problems.UnknownCollection(collection);
        }
        // Deleting needs no embedder: a collection embedded differently can still be emptied.
        var context = service.Context(info, tenant.Name);
        return await context.DeleteDocumentAsync(id, cancellationToken) ? Results.NoContent() : Problems.UnknownDocument(collection, id);
    }
}
