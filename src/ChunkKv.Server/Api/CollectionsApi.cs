using System.Text.RegularExpressions;
using ChunkKv.Collections;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Evaluation;
using ChunkKv.Server.Calibration;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Tenancy;

namespace ChunkKv.Server.Api;

/// <param name="Prefix">The collection's prompt prefix (system text before the chunks); null: the model's layout's.</param>
/// <param name="ChunkTokens">Tokens per chunk at ingestion; null: the server's <c>ChunkTokens</c>.</param>
public sealed record CollectionBody(string? Name, string? Prefix, int? ChunkTokens);

/// <param name="Prefix">The prefix its prompts start with (the layout's when none was given).</param>
/// <param name="Layout">Where its prompts' form comes from: <c>chat template</c>, <c>chunkkv_layout</c> or <c>default</c>.</param>
/// <param name="Calibration">Its calibration on the server's model (<c>POST .../calibrate</c>); null when it has none.</param>
public sealed record CollectionView(string Name, string Embedder, int Dimension, string Prefix, int ChunkTokens, string Layout,
    CalibrationResult? Calibration)
{
    public static CollectionView Of(string name, CollectionInfo c, ChunkKvRuntime runtime, CalibrationStore calibrations) =>
        new(name, c.Embedder, c.Dimension, c.Settings.Prefix ?? runtime.Layout.Instruction, c.Settings.ChunkTokens ?? runtime.ChunkTokens,
            runtime.Layout.Origin, calibrations.Find(c.Name, runtime.Model.Fingerprint));
}

public sealed record CollectionList(IReadOnlyList<CollectionView> Collections);

/// <summary><c>/v1/collections</c>: create (idempotent), list, get and delete (with its documents and their caches).</summary>
public static partial class CollectionsApi
{
    public static IEndpointRouteBuilder MapCollectionsApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1/collections").WithTags("Collections");
        group.MapPost("/", CreateAsync).WithName("CreateCollection").Produces<CollectionView>(StatusCodes.Status201Created).ProducesValidationProblem();
        group.MapGet("/", ListAsync).WithName("ListCollections").Produces<CollectionList>();
        group.MapGet("/{name}", GetAsync).WithName("GetCollection").Produces<CollectionView>().ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{name}", DeleteAsync).WithName("DeleteCollection").Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    /// <summary>Names are what a URL path segment carries unescaped: letters, digits, '-', '_' and '.', up to 64.</summary>
    internal static string? NameProblem(string? name) =>
        string.IsNullOrEmpty(name) ? "a name is required"
        : NamePattern().IsMatch(name) ? null
        : "a name is 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit";

    public const int MaxPrefixCharacters = 4000;
    public const int MinChunkTokens = 16;

    private static async Task<IResult> CreateAsync(CollectionBody body, CollectionService service, CalibrationStore calibrations, HttpContext http,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (NameProblem(body.Name) is { } problem)
        {
            errors["name"] = [problem];
        }
        if (body.Prefix is { } prefix && TextChecks.HasLoneSurrogate(prefix))
        {
            errors["prefix"] = [$"the prefix {TextChecks.LoneSurrogate}"];
        }
        else if (body.Prefix is { Length: > MaxPrefixCharacters })
        {
            errors["prefix"] = [$"the prefix has {body.Prefix.Length} characters; the limit is {MaxPrefixCharacters}"];
        }
        // A chunk and its question must fit the model's context together.
        var runtime = service.Runtime;
        var maxChunkTokens = runtime.Model.Config.MaxPositions / 4;
        if (body.ChunkTokens is { } tokens && (tokens < MinChunkTokens || tokens > maxChunkTokens))
        {
            errors["chunk_tokens"] = [$"chunk_tokens is from {MinChunkTokens} to {maxChunkTokens} (a quarter of the model's context), not {tokens}"];
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var stored = http.Tenant().Stored(body.Name!);
        var existed = await runtime.Index.GetCollectionAsync(stored, cancellationToken) is not null;
        // Asked for nothing in particular, creating again accepts the collection as it is.
        var settings = body.Prefix is null && body.ChunkTokens is null ? null : new CollectionSettings(body.Prefix, body.ChunkTokens);
        try
        {
            var collection = await runtime.Index.EnsureCollectionAsync(stored, runtime.Embedder.Name, runtime.Embedder.Dimension, settings, cancellationToken);
            var view = CollectionView.Of(body.Name!, collection, runtime, calibrations);
            return existed ? Results.Ok(view) : Results.Created($"/v1/collections/{body.Name}", view);
        }
        catch (CollectionMismatchException e)
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Collection exists with other settings", detail: e.Message);
        }
    }

    private static async Task<IResult> GetAsync(string name, CollectionService service, CalibrationStore calibrations, HttpContext http,
        CancellationToken cancellationToken) =>
        await service.Index.GetCollectionAsync(http.Tenant().Stored(name), cancellationToken) is { } c
            ? Results.Ok(CollectionView.Of(name, c, service.Runtime, calibrations))
            : Problems.UnknownCollection(name);

    /// <summary>The tenant's collections by name; another tenant's never appear.</summary>
    private static async Task<IResult> ListAsync(CollectionService service, CalibrationStore calibrations, HttpContext http, CancellationToken cancellationToken)
    {
        var tenant = http.Tenant();
        var views = (await service.Index.ListCollectionsAsync(cancellationToken))
            .Select(c => tenant.Visible(c.Name) is { } name ? CollectionView.Of(name, c, service.Runtime, calibrations) : null)
            .OfType<CollectionView>().OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        return Results.Ok(new CollectionList(views));
    }

    private static async Task<IResult> DeleteAsync(string name, CollectionService service, CalibrationStore calibrations, HttpContext http,
        CancellationToken cancellationToken)
    {
        var stored = http.Tenant().Stored(name);
        if (!await service.Runtime.DeleteCollectionAsync(stored, cancellationToken))
        {
            return Problems.UnknownCollection(name);
        }
        calibrations.Remove(stored);
        return Results.NoContent();
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
