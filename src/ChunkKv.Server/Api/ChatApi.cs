using System.Text.Json;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Tokenization.Jinja;
using ChunkKv.Pipeline;
using ChunkKv.Prompts;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Calibration;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Tenancy;
using ChunkKv.Server.Observability;

namespace ChunkKv.Server.Api;

public sealed record ChatMessage(string? Role, JsonElement Content);

public sealed record StreamOptions(bool IncludeUsage = false);

/// <param name="Model"><c>chunkkv:&lt;collection&gt;</c>: the collection retrieval answers from.</param>
/// <param name="Method">ChunkKv's extra field: the fusion method (default the server's).</param>
/// <param name="Neighbours">ChunkKv's extra field: chunks before and after each hit to bring along (default the server's).</param>
/// <param name="N">OpenAI's choices per request: only 1 is served (a 400 otherwise, naming it).</param>
/// <param name="Logprobs">OpenAI's parameters ChunkKv does not serve are refused by name rather than ignored.</param>
public sealed record ChatBody(string? Model, IReadOnlyList<ChatMessage>? Messages, bool Stream = false, int? MaxTokens = null,
    int? MaxCompletionTokens = null, float? Temperature = null, float? TopP = null, JsonElement? Stop = null,
    StreamOptions? StreamOptions = null, string? Method = null, int? TopK = null, NeighboursBody? Neighbours = null,
    int? N = null, bool? Logprobs = null, int? TopLogprobs = null, JsonElement? Tools = null, JsonElement? ToolChoice = null,
    JsonElement? Functions = null, JsonElement? FunctionCall = null, JsonElement? ResponseFormat = null);

/// <summary>
/// <c>POST /v1/chat/completions</c>, OpenAI-compatible: the last user message is the question, answered
/// with retrieval from the collection the model names (<c>"model": "chunkkv:docs"</c>), so existing
/// OpenAI clients work unchanged; the client's system message and the turns before go into the prompt
/// through the model's chat template, after the retrieved chunks. <c>GET /v1/models</c> lists what can be named.
/// </summary>
public static class ChatApi
{
    public const string ModelPrefix = "chunkkv:";

    public static IEndpointRouteBuilder MapChatApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/chat/completions", CompleteAsync).WithName("ChatCompletions").WithTags("OpenAI")
            .ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        endpoints.MapGet("/v1/models", ModelsAsync).WithName("Models").WithTags("OpenAI");
        return endpoints;
    }

    private static async Task<IResult> ModelsAsync(CollectionService service, HttpContext http, CancellationToken cancellationToken)
    {
        var tenant = http.Tenant();
        var collections = (await service.Index.ListCollectionsAsync(cancellationToken)).Select(c => tenant.Visible(c.Name)).OfType<string>();
        return Results.Ok(new
        {
            @object = "list",
            data = collections.Select(name => new { id = ModelPrefix + name, @object = "model", created = 0, owned_by = "chunkkv" }),
        });
    }

    private static async Task<IResult> CompleteAsync(ChatBody body, CollectionService service, HttpContext http, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var collection = body.Model is { } model && model.StartsWith(ModelPrefix, StringComparison.Ordinal) ? model[ModelPrefix.Length..] : null;
        if (collection is null || CollectionsApi.NameProblem(collection) is not null)
        {
            errors["model"] = [$"model must be '{ModelPrefix}<collection>' (GET /v1/models lists them)"];
        }
        var (question, system, history) = ReadConversation(body.Messages, errors);
        var stops = Stops(body.Stop, errors);
        Unserved(body, errors);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var (asked, _, _, invalid) = QueryApi.Validate(new QueryBody(collection, question, body.TopK, body.Method,
            body.MaxCompletionTokens ?? body.MaxTokens, body.Temperature, body.TopP, Neighbours: body.Neighbours, System: system, History: history),
            service.Options);
        if (asked is null)
        {
            return Results.ValidationProblem(invalid);
        }
        var (context, problem) = await service.FindCollectionAsync(http.Tenant(), collection!, cancellationToken);
        if (context is null)
        {
            return problem!;
        }
        var (request, warning, refusal) = http.RequestServices.GetRequiredService<CollectionCalibrations>().Gate(context, asked, http);
        if (refusal is not null)
        {
            return refusal;
        }
        try
        {
            var id = $"chatcmpl-{Guid.NewGuid():N}";
            var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (!body.Stream)
            {
                var result = (await service.AskAsync(context, request, [], onText: null, cancellationToken)).Result;
                var (text, stopped) = CutAtStop(result.Answer, stops);
                return Results.Ok(new
                {
                    id, @object = "chat.completion", created, model = body.Model,
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = text }, finish_reason = FinishReason(result, stopped) } },
                    usage = Usage(result),
                    chunkkv = new { method = result.Method.Name, recomputed_tokens = result.RecomputedTokens, timings = result.Timings, calibration_warning = warning },
                });
            }
            await StreamAsync(service, context, request, body, stops, id, created, http, cancellationToken);
            return Results.Empty;
        }
        catch (PromptTooLongException e)
        {
            return Problems.PromptTooLong(e);
        }
        catch (TemplateException e)
        {
            return Problems.ConversationRefused(e);
        }
        catch (CollectionNotFoundException)
        {
            return Problems.UnknownCollection(collection!); // deleted while the request waited for the engine
        }
    }

    /// <summary>
    /// OpenAI's chunks: the role, the text as it is decoded, the finish reason, optionally the usage, then
    /// <c>[DONE]</c>. Nothing is written until the answer has started, so what fails before is a plain
    /// problem; what fails after ends the stream with an OpenAI-style error chunk and <c>[DONE]</c>.
    /// </summary>
    private static async Task StreamAsync(CollectionService service, CollectionContext collection, QueryRequest request, ChatBody body, string[] stops, string id, long created,
        HttpContext http, CancellationToken cancellationToken)
    {
        var json = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        async Task SendAsync(object chunk)
        {
            await http.Response.WriteAsync($"data: {JsonSerializer.Serialize(chunk, json)}\n\n", cancellationToken);
            await http.Response.Body.FlushAsync(cancellationToken);
        }
        object Chunk(object delta, string? finish) => new
        {
            id, @object = "chat.completion.chunk", created, model = body.Model,
            choices = new[] { new { index = 0, delta, finish_reason = finish } },
        };

        using var stopDecoding = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var answer = AnswerStream.Start(service, collection, request, [], stopDecoding.Token);
        await answer.FirstPieceAsync(cancellationToken);
        try
        {
            await SendChunksAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var (status, type, message) = Problems.Describe(e);
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("ChunkKv.Server.Chat").LogWarning(e, "a streamed completion failed after it started");
            await http.Response.WriteAsync($"data: {JsonSerializer.Serialize(new { error = new { message, type, code = status } }, json)}\n\n", CancellationToken.None);
            await http.Response.WriteAsync("data: [DONE]\n\n", CancellationToken.None);
        }

        async Task SendChunksAsync()
        {
            await SendAsync(Chunk(new { role = "assistant", content = "" }, null));
            var sent = "";
            var stopped = false;
            await foreach (var piece in answer.Pieces(cancellationToken))
            {
                if (stopped)
                {
                    continue;
                }
                var (text, hit) = CutAtStop(sent + piece, stops);
                if (text.Length > sent.Length)
                {
                    await SendAsync(Chunk(new { content = text[sent.Length..] }, null));
                    sent = text;
                }
                if (hit)
                {
                    stopped = true;
                    await stopDecoding.CancelAsync(); // the rest would only be cut off
                }
            }
            var result = (await answer.Result).Result;
            await SendAsync(Chunk(new { }, FinishReason(result, stopped)));
            if (body.StreamOptions?.IncludeUsage == true)
            {
                await SendAsync(new { id, @object = "chat.completion.chunk", created, model = body.Model, choices = Array.Empty<object>(), usage = Usage(result) });
            }
            await http.Response.WriteAsync("data: [DONE]\n\n", cancellationToken);
        }
    }

    /// <summary>
    /// Token counts, with <c>prompt_tokens_details.cached_tokens</c> the prompt tokens served from chunk
    /// caches (a hit's rows less those recomputed): OpenAI's own field for prompt tokens not computed again.
    /// </summary>
    private static object Usage(QueryResult result) => new
    {
        prompt_tokens = result.PromptTokens, completion_tokens = result.AnswerTokens.Length, total_tokens = result.PromptTokens + result.AnswerTokens.Length,
        prompt_tokens_details = new
        {
            cached_tokens = result.Sources.Where(s => s.Cache == CacheSource.Hit).Sum(s => s.PromptTokens - s.RecomputedOffsets.Length),
        },
    };

    /// <summary>
    /// OpenAI parameters this endpoint does not serve: a client that asks for several choices, log
    /// probabilities, tools or a JSON response would otherwise get something else without knowing.
    /// </summary>
    private static void Unserved(ChatBody body, Dictionary<string, string[]> errors)
    {
        static bool Given(JsonElement? value) => value is { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) };
        if (body.N is { } n && n != 1)
        {
            errors["n"] = [$"n must be 1 (one choice per request is served), not {n}"];
        }
        if (body.Logprobs == true || body.TopLogprobs is not null)
        {
            errors[body.Logprobs == true ? "logprobs" : "top_logprobs"] = ["log probabilities are not served"];
        }
        foreach (var (name, value) in new[] { ("tools", body.Tools), ("tool_choice", body.ToolChoice), ("functions", body.Functions), ("function_call", body.FunctionCall) })
        {
            if (Given(value))
            {
                errors[name] = [$"{name}: tool and function calling are not served"];
            }
        }
        if (Given(body.ResponseFormat) && !(body.ResponseFormat!.Value.ValueKind == JsonValueKind.Object
            && body.ResponseFormat.Value.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text"))
        {
            errors["response_format"] = ["only {\"type\": \"text\"} is served"];
        }
    }

    private static string FinishReason(QueryResult result, bool stopped) =>
        stopped || result.StopReason is StopReason.EndOfSequence or StopReason.Cancelled ? "stop" : "length";

    /// <summary>
    /// The conversation as the query takes it: the last message (the user's) is the question and drives
    /// retrieval; system (and developer) messages are the client's system text, joined; the user and
    /// assistant turns before the question are its history. Both go into the prompt after the chunks.
    /// </summary>
    private static (string? Question, string? System, List<TurnBody?> History) ReadConversation(IReadOnlyList<ChatMessage>? messages,
        Dictionary<string, string[]> errors)
    {
        if (messages is null || messages.Count == 0)
        {
            errors["messages"] = ["messages must hold at least one message"];
            return (null, null, []);
        }
        var system = new List<string>();
        var turns = new List<TurnBody?>();
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            string? text;
            try
            {
                text = Text(message.Content);
            }
            catch (InvalidOperationException)
            {
                // System.Text.Json cannot give a lone surrogate ("\ud800") as a string: it is not text.
                errors[$"messages[{i}].content"] = [$"the message {TextChecks.LoneSurrogate}"];
                continue;
            }
            switch (message.Role)
            {
                case "system" or "developer" when text is not null:
                    system.Add(text);
                    break;
                case "user" when text is not null:
                    turns.Add(new TurnBody(ChatTurn.User, text));
                    break;
                case "assistant":
                    turns.Add(new TurnBody(ChatTurn.Assistant, text ?? ""));
                    break;
                case "system" or "developer" or "user":
                    errors[$"messages[{i}].content"] = ["the message must have text content (a string or text parts)"];
                    break;
                default:
                    errors[$"messages[{i}].role"] = [$"role '{message.Role}' is not served: messages are system, developer, user or assistant (tools are not served)"];
                    break;
            }
        }
        if (messages[^1].Role != "user")
        {
            errors["messages"] = ["the last message must be the user's question"];
        }
        if (errors.Count > 0 || turns.Count == 0)
        {
            return (null, null, []);
        }
        return (turns[^1]!.Content, system.Count > 0 ? string.Join("\n\n", system) : null, turns[..^1]);
    }

    /// <summary>A message's text: a string, or the text parts of an array of content parts.</summary>
    private static string? Text(JsonElement content) => content.ValueKind switch
    {
        JsonValueKind.String => content.GetString() is { Length: > 0 } s && !string.IsNullOrWhiteSpace(s) ? s : null,
        JsonValueKind.Array => string.Concat(content.EnumerateArray()
            .Where(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "text"
                && p.TryGetProperty("text", out var x) && x.ValueKind == JsonValueKind.String)
            .Select(p => p.GetProperty("text").GetString())) is { Length: > 0 } joined ? joined : null,
        _ => null,
    };

    private static string[] Stops(JsonElement? value, Dictionary<string, string[]> errors)
    {
        var stop = value ?? default;
        switch (stop.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return [];
            case JsonValueKind.String when stop.GetString() is { Length: > 0 } one:
                return [one];
            case JsonValueKind.Array when stop.GetArrayLength() <= 4 && stop.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String && s.GetString()!.Length > 0):
                return stop.EnumerateArray().Select(s => s.GetString()!).ToArray();
            default:
                errors["stop"] = ["stop is a non-empty string or an array of up to 4 of them"];
                return [];
        }
    }

    private static (string Text, bool Stopped) CutAtStop(string text, string[] stops)
    {
        var at = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        return at >= 0 ? (text[..at], true) : (text, false);
    }
}
