using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace ChunkKv.Tests.Retrieval.Embedding;

/// <summary>A real HTTP server on loopback that answers like an OpenAI-compatible /v1/embeddings endpoint, scripted per test.</summary>
internal sealed class EmbeddingServer : IAsyncDisposable
{
    /// <param name="Delay">How long the server takes before it answers.</param>
    public sealed record Reply(int Status, string Body, string? RetryAfter = null, TimeSpan Delay = default);

    public sealed record Received(string Path, string? Authorization, JsonObject Body);

    private readonly HttpListener _listener = new();
    private readonly Func<JsonObject, int, Reply> _answer;
    private readonly Task _loop;

    /// <param name="answer">Reply to a request body; the int counts the requests so far (0 for the first).</param>
    public EmbeddingServer(Func<JsonObject, int, Reply> answer)
    {
        _answer = answer;
        var port = FreePort();
        BaseUrl = new Uri($"http://127.0.0.1:{port}/v1");
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri BaseUrl { get; }

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>The answer of a well-behaved server: vector i of a batch is <c>[index of the text's first char, 1, 0, ...]</c>.</summary>
    public static Reply Embeddings(JsonObject request, int dimension, bool reversed = false)
    {
        var inputs = request["input"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        var items = inputs.Select((text, i) =>
        {
            var vector = new float[dimension];
            vector[0] = text[0];
            vector[1] = 1;
            return new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = new JsonArray(vector.Select(v => (JsonNode)v).ToArray()) };
        }).ToList();
        if (reversed)
        {
            items.Reverse();
        }
        return new Reply(200, new JsonObject { ["object"] = "list", ["data"] = new JsonArray([.. items]) }.ToJsonString());
    }

    private async Task ServeAsync()
    {
        var count = 0;
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            // Stopped between the IsListening check and the call, the listener says "call Start()" instead.
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
            Requests.Enqueue(new Received(context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"], body));
            var reply = _answer(body, count++);
            if (reply.Delay > TimeSpan.Zero)
            {
                _ = Task.Run(() => AnswerAsync(context, reply)); // a slow answer does not hold up the next request
            }
            else
            {
                await AnswerAsync(context, reply);
            }
        }
    }

    private static async Task AnswerAsync(HttpListenerContext context, Reply reply)
    {
        try
        {
            await Task.Delay(reply.Delay);
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            if (reply.RetryAfter is not null)
            {
                context.Response.AddHeader("Retry-After", reply.RetryAfter);
            }
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
            // The client gave up waiting (its timeout) or the server is stopping.
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
