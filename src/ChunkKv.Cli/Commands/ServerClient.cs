using System.Net.Http.Json;
using System.Text.Json;

namespace ChunkKv.Cli.Commands;

/// <summary>The <c>--server URL</c> the client verbs talk to (default: the main job's address), with problem bodies turned into messages.</summary>
internal static class ServerClient
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static HttpClient Create(CommandArguments arguments)
    {
        var url = arguments.Optional("server") ?? Environment.GetEnvironmentVariable("CHUNKKV_SERVER") ?? DefaultUrl;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--server must be an http(s) URL, not '{url}'");
        }
        return new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromMinutes(30) };
    }

    /// <summary>The response's JSON, or a <see cref="CommandFailedException"/> with the server's problem title and detail.</summary>
    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        JsonElement body;
        try
        {
            body = JsonDocument.Parse(text).RootElement;
        }
        catch (JsonException)
        {
            throw new CommandFailedException($"the server answered {(int)response.StatusCode} with: {text}");
        }
        if (response.IsSuccessStatusCode)
        {
            return body;
        }
        var title = body.TryGetProperty("title", out var t) ? t.GetString() : response.ReasonPhrase;
        var detail = body.TryGetProperty("detail", out var d) ? $": {d.GetString()}" : "";
        var errors = body.TryGetProperty("errors", out var e)
            ? " (" + string.Join("; ", e.EnumerateObject().Select(p => $"{p.Name}: {string.Join(", ", p.Value.EnumerateArray().Select(v => v.GetString()))}")) + ")"
            : "";
        throw new CommandFailedException($"{(int)response.StatusCode} {title}{detail}{errors}");
    }

    public static Task<JsonElement> PostJsonAsync(HttpClient client, string path, object body, CancellationToken cancellationToken) =>
        SendAsync(client, () => client.PostAsJsonAsync(path, body, cancellationToken), cancellationToken);

    public static Task<JsonElement> GetJsonAsync(HttpClient client, string path, CancellationToken cancellationToken) =>
        SendAsync(client, () => client.GetAsync(path, cancellationToken), cancellationToken);

    private static async Task<JsonElement> SendAsync(HttpClient client, Func<Task<HttpResponseMessage>> send, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await send();
            return await ReadAsync(response, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CommandFailedException($"no ChunkKv server at {client.BaseAddress} ({e.Message}); start one with scripts/chunkkv serve (or scripts/run.sh), or pass --server URL");
        }
    }
}
