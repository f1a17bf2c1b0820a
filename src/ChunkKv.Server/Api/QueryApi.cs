using System.Text.Json;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Tokenization.Jinja;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Server.Calibration;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Tenancy;
using ChunkKv.Server.Observability;

namespace ChunkKv.Server.Api;

/// <param name="System">The client's own system text, written after the chunks (the collection's instruction stays first).</param>
/// <param name="History">The conversation before the question, oldest first: user and assistant turns, written after the chunks.</param>
public sealed record QueryBody(
    string? Collection, string? Question, int? TopK, string? Method, int? MaxTokens, float? Temperature, float? TopP,
    bool Stream = false, IReadOnlyList<string>? Compare = null, NeighboursBody? Neighbours = null,
    string? System = null, IReadOnlyList<TurnBody?>? History = null);

/// <summary>A turn of <c>history</c>: <c>role</c> is <c>user</c> or <c>assistant</c>.</summary>
public sealed record TurnBody(string? Role, string? Content);

/// <summary>Chunks before and after each hit to bring along (within <c>top_k</c>); a field left out takes the server's default.</summary>
public sealed record NeighboursBody(int? Before, int? After);

/// <param name="Tokens">The chunk's prompt tokens as text, one each, so a page can mark the recomputed ones.</param>
/// <param name="Neighbour">Brought along as a hit's neighbour, not found by the search itself.</param>
public sealed record SourceView(string DocumentId, int Ordinal, double Score, string Content, string Cache, int PromptTokens, int[] RecomputedOffsets,
    IReadOnlyList<string> Tokens, bool Neighbour);

public sealed record CompareView(string Method, string Answer, double TtftSeconds, bool FirstTokenAgrees, int RecomputedTokens);

/// <param name="CalibrationWarning">The method failed the collection's calibration: what was measured (null when it passed or there is none).</param>
public sealed record QueryView(string Answer, string Method, string StopReason, IReadOnlyList<SourceView> Sources, int PromptTokens,
    int RecomputedTokens, QueryTimings Timings, IReadOnlyList<CompareView>? Compare, string? CalibrationWarning = null);

/// <summary><c>POST /v1/query</c>: retrieve, fuse the chunks' caches, answer; optionally streamed, optionally compared with other methods.</summary>
public static class QueryApi
{
    public static IEndpointRouteBuilder MapQueryApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/query", QueryAsync).WithName("Query").WithTags("Query")
            .Produces<QueryView>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    /// <summary>The request as the pipeline takes it, or the problems with it.</summary>
    internal static (QueryRequest? Request, string? Collection, IReadOnlyList<FusionMethod> Compare, Dictionary<string, string[]> Errors) Validate(QueryBody body, EngineOptions limits)
    {
        var errors = new Dictionary<string, string[]>();
        void Error(string field, string message) => errors[field] = [message];
        if (string.IsNullOrWhiteSpace(body.Collection))
        {
            Error("collection", "a collection is required");
        }
        if (string.IsNullOrWhiteSpace(body.Question))
        {
            Error("question", "a question is required");
        }
        else if (TextChecks.HasLoneSurrogate(body.Question))
        {
            Error("question", $"the question {TextChecks.LoneSurrogate}");
        }
        else if (TextChecks.Characters(body.Question) is var characters && characters > limits.MaxQuestionCharacters)
        {
            Error("question", $"the question has {characters} characters; the limit is {limits.MaxQuestionCharacters}");
        }
        var topK = body.TopK ?? limits.DefaultTopK;
        if (topK < 1 || topK > limits.MaxTopK)
        {
            Error("top_k", $"top_k must be from 1 to {limits.MaxTopK}");
        }
        var maxTokens = body.MaxTokens ?? limits.DefaultMaxTokens;
        if (maxTokens < 1 || maxTokens > limits.MaxTokens)
        {
            Error("max_tokens", $"max_tokens must be from 1 to {limits.MaxTokens}");
        }
        if (body.Temperature is < 0 or > 2 or float.NaN)
        {
            Error("temperature", "temperature must be from 0 to 2");
        }
        if (body.TopP is <= 0 or > 1 or float.NaN)
        {
            Error("top_p", "top_p must be greater than 0 and at most 1");
        }
        FusionMethod? method = null;
        try
        {
            // None asked: the collection's calibrated default, else the server's (CalibrationGate).
            method = body.Method is null ? null : FusionMethod.Parse(body.Method);
        }
        catch (FormatException e)
        {
            Error("method", e.Message);
        }
        var compare = new List<FusionMethod>();
        if (body.Compare is { } asked && asked.Distinct(StringComparer.OrdinalIgnoreCase).Count() > limits.MaxCompare)
        {
            Error("compare", $"compare names at most {limits.MaxCompare} methods (each runs the whole query again)");
        }
        foreach (var name in body.Compare ?? [])
        {
            try
            {
                // The same method twice, or spelt twice ("cacheblend" and "cacheblend:0.15"), runs once.
                if (FusionMethod.Parse(name ?? "") is var parsed && !compare.Contains(parsed))
                {
                    compare.Add(parsed);
                }
            }
            catch (FormatException e)
            {
                Error("compare", e.Message);
            }
        }
        var neighbours = new Neighbours(body.Neighbours?.Before ?? limits.DefaultNeighboursBefore, body.Neighbours?.After ?? limits.DefaultNeighboursAfter);
        if (neighbours.Before is < 0 or > Neighbours.Most || neighbours.After is < 0 or > Neighbours.Most)
        {
            Error("neighbours", $"neighbours.before and neighbours.after are from 0 to {Neighbours.Most}");
        }
        var conversation = ConversationChecks.Validate(body.System, body.History, limits, Error);
        if (errors.Count > 0)
        {
            return (null, null, [], errors);
        }
        var sampling = new SamplingOptions(body.Temperature ?? 0, body.TopP ?? 1);
        return (new QueryRequest(body.Question!, topK, method, maxTokens, sampling, Neighbours: neighbours, Conversation: conversation),
            body.Collection, compare, errors);
    }

    private static async Task<IResult> QueryAsync(QueryBody body, CollectionService service, CollectionCalibrations calibrations, HttpContext http,
        CancellationToken cancellationToken)
    {
        var (asked, name, compare, errors) = Validate(body, service.Options);
        if (asked is null)
        {
            return Results.ValidationProblem(errors);
        }
        var (collection, problem) = await service.FindCollectionAsync(http.Tenant(), name!, cancellationToken);
        if (collection is null)
        {
            return problem!;
        }
        var (request, warning, refusal) = calibrations.Gate(collection, asked, http);
        if (refusal is not null)
        {
            return refusal;
        }
        try
        {
            if (!body.Stream)
            {
                var answered = await service.AskAsync(collection, request, compare, onText: null, cancellationToken);
                return Results.Ok(View(collection, answered) with { CalibrationWarning = warning });
            }
            await StreamAsync(service, collection, request, compare, http, cancellationToken);
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
            return Problems.UnknownCollection(name!); // deleted while the request waited for the engine
        }
    }

    /// <summary>
    /// Server-sent events: <c>{"text": ...}</c> per piece of the answer, then one <c>done</c> event with the
    /// whole result. What fails before the first piece is a plain problem (nothing was written); what
    /// fails after ends the stream with an <c>error</c> event holding a problem body.
    /// </summary>
    private static async Task StreamAsync(CollectionService service, CollectionContext collection, QueryRequest request,
        IReadOnlyList<FusionMethod> compare, HttpContext http, CancellationToken cancellationToken)
    {
        var options = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var answer = AnswerStream.Start(service, collection, request, compare, cancellationToken);
        await answer.FirstPieceAsync(cancellationToken);
        try
        {
            // Each piece goes out as soon as it is decoded.
            await foreach (var piece in answer.Pieces(cancellationToken))
            {
                await http.Response.WriteAsync($"data: {JsonSerializer.Serialize(new { text = piece }, options)}\n\n", cancellationToken);
                await http.Response.Body.FlushAsync(cancellationToken);
            }
            var view = View(collection, await answer.Result);
            await http.Response.WriteAsync($"event: done\ndata: {JsonSerializer.Serialize(view, options)}\n\n", cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var (status, _, message) = Problems.Describe(e);
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("ChunkKv.Server.Query").LogWarning(e, "a streamed answer failed after it started");
            var problem = new { type = "about:blank", title = "The answer failed", status, detail = message };
            await http.Response.WriteAsync($"event: error\ndata: {JsonSerializer.Serialize(problem, options)}\n\n", CancellationToken.None);
        }
    }

    private static QueryView View(CollectionContext collection, Answered answered)
    {
        var result = answered.Result;
        var compared = answered.Compared.Count == 0 ? null : answered.Compared.Select(other => new CompareView(other.Method.Name, other.Answer,
            other.Timings.Ttft, other.AnswerTokens.FirstOrDefault(-1) == result.AnswerTokens.FirstOrDefault(-1), other.RecomputedTokens)).ToList();
        return new QueryView(result.Answer, result.Method.Name, result.StopReason.ToString(),
            result.Sources.Select(s => new SourceView(s.Hit.DocumentId, s.Hit.Ordinal, s.Hit.Score, s.Hit.Content,
                s.Cache.ToString().ToLowerInvariant(), s.PromptTokens, s.RecomputedOffsets,
                s.TokenIds.Select(id => collection.Tokenizer.Decode([id], skipSpecialTokens: false)).ToList(), s.Neighbour)).ToList(),
            result.PromptTokens, result.RecomputedTokens, result.Timings, compared);
    }
}
