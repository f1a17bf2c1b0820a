namespace ChunkKv.Server.Playground;

/// <summary>
/// <c>GET /</c>: the playground, one page of plain HTML and JavaScript carried inside the assembly
/// (no build step, nothing fetched from the internet): pick or create a collection, ingest a
/// document, ask with a method, watch the answer stream, see the retrieved chunks with their
/// recomputed tokens marked and the time to first token of each method compared.
/// </summary>
public static class PlaygroundPage
{
    private static readonly Lazy<string> Html = new(() =>
    {
        using var stream = typeof(PlaygroundPage).Assembly.GetManifestResourceStream("playground.html")
            ?? throw new InvalidOperationException("the playground page is not embedded in the server assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static IEndpointRouteBuilder MapPlayground(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Content(Html.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
        return endpoints;
    }
}
