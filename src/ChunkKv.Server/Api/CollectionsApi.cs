using System.Text.RegularExpressions;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Tenancy;

namespace ChunkKv.Server.Api;

public sealed record CollectionBody(string? Name);

public sealed record CollectionView(string Name, string Embedder, int Dimension);

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

    private static async Task<IResult> CreateAsync(CollectionBody body, ChunkKvEngine engine, HttpContext http, CancellationToken cancellationToken)
    {
        if (NameProblem(body.Name) is { } problem)
        {
            return Problems.Invalid("name", problem);
        }
        var stored = http.Tenant().Stored(body.Name!);
        var existed = await engine.Index.GetCollectionAsync(stored, cancellationToken) is not null;
        try
        {
            var collection = await engine.Index.EnsureCollectionAsync(stored, engine.Embedder.Name, engine.Embedder.Dimension, cancellationToken);
            var view = new CollectionView(body.Name!, collection.Embedder, collection.Dimension);
            return existed ? Results.Ok(view) : Results.Created($"/v1/collections/{body.Name}", view);
        }
        catch (CollectionMismatchException e)
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Collection exists with another embedder", detail: e.Message);
        }
    }

    private static async Task<IResult> GetAsync(string name, ChunkKvEngine engine, HttpContext http, CancellationToken cancellationToken) =>
        await engine.Index.GetCollectionAsync(http.Tenant().Stored(name), cancellationToken) is { } c
            ? Results.Ok(new CollectionView(name, c.Embedder, c.Dimension))
            : Problems.UnknownCollection(name);

    /// <summary>The tenant's collections by name; another tenant's never appear.</summary>
    private static async Task<IResult> ListAsync(ChunkKvEngine engine, HttpContext http, CancellationToken cancellationToken)
    {
        var tenant = http.Tenant();
        var views = (await engine.Index.ListCollectionsAsync(cancellationToken))
            .Select(c => tenant.Visible(c.Name) is { } name ? new CollectionView(name, c.Embedder, c.Dimension) : null)
            .OfType<CollectionView>().OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        return Results.Ok(new CollectionList(views));
    }

    private static async Task<IResult> DeleteAsync(string name, ChunkKvEngine engine, HttpContext http, CancellationToken cancellationToken) =>
        await engine.Ingest.DeleteCollectionAsync(http.Tenant().Stored(name), cancellationToken)
            ? Results.NoContent()
            : Problems.UnknownCollection(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
