using ChunkKv.Pipeline;

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

    public static IResult Invalid(string field, string message) => Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}
