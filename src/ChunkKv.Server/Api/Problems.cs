using ChunkKv.Collections;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Engine;

namespace ChunkKv.Server.Api;

/// <summary>The problem-details answers the endpoints share.</summary>
internal static class Problems
{
    public static IResult UnknownCollection(string name) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown collection", detail: $"collection '{name}' does not exist");

    public static IResult UnknownDocument(string collection, string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown document", detail: $"document '{id}' is not in collection '{collection}'");

    public static IResult PromptTooLong(PromptTooLongException e) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Prompt too long",
            detail: $"{e.Message}: ask for fewer chunks (top_k) or fewer tokens");

    public static IResult EmbedderMismatch(CollectionMismatchException e) =>
        Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Collection embedded differently", detail: e.Message);

    /// <summary>The collection's context, or the problem to answer with: 404 when there is none, 409 when it was embedded differently.</summary>
    public static async Task<(CollectionContext? Context, IResult? Problem)> FindCollectionAsync(this CollectionService service, Tenancy.Tenant tenant,
        string name, CancellationToken cancellationToken)
    {
        try
        {
            return await service.FindAsync(tenant.Stored(name), tenant.Name, cancellationToken) is { } context ? (context, null) : (null, UnknownCollection(name));
        }
        catch (CollectionMismatchException e)
        {
            return (null, EmbedderMismatch(e));
        }
    }

    public static IResult Invalid(string field, string message) => Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}
