using ChunkKv.Collections;
using ChunkKv.Inference.Tokenization.Jinja;
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

    /// <summary>
    /// The model's chat template refused the client's conversation (roles that do not alternate …): a 400
    /// in the template's own words; a template that fails on it otherwise is a 422 saying so.
    /// </summary>
    public static IResult ConversationRefused(TemplateException e)
    {
        var (status, _, message) = Describe(e);
        return Results.Problem(statusCode: status, title: "Conversation refused by the model's chat template", detail: message);
    }

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

    /// <summary>
    /// What a failure that happened after a stream's first byte is, for the error event that ends the
    /// stream: a status, whether the caller can fix it, and a message that names no internals.
    /// </summary>
    public static (int Status, string Type, string Message) Describe(Exception e) => e switch
    {
        PromptTooLongException tooLong => (StatusCodes.Status400BadRequest, "invalid_request_error", tooLong.Message),
        TemplateRaisedException raised => (StatusCodes.Status400BadRequest, "invalid_request_error", $"the model's chat template refused the conversation: {raised.TemplateMessage}"),
        TemplateException template => (StatusCodes.Status422UnprocessableEntity, "invalid_request_error", $"the model's chat template cannot render this conversation: {template.Message}"),
        CollectionNotFoundException => (StatusCodes.Status404NotFound, "invalid_request_error", "the collection was deleted while the request ran"),
        Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException =>
            (StatusCodes.Status503ServiceUnavailable, "server_error", "the retrieval database did not answer; try again shortly"),
        _ => (StatusCodes.Status500InternalServerError, "server_error", "the answer failed on the server"),
    };

    public static IResult Invalid(string field, string message) => Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}
