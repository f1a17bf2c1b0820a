using System.Globalization;
using System.Text.Json;
using ChunkKv.Server.Api;
using ChunkKv.Collections;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Health;
using ChunkKv.Server.Observability;
using ChunkKv.Server.Playground;
using ChunkKv.Server.Storage;
using ChunkKv.Server.Tenancy;
using Microsoft.Extensions.Options;
using Prometheus;
using Scalar.AspNetCore;

namespace ChunkKv.Server;

/// <summary>
/// The server: configuration (appsettings, CHUNKKV_* environment, arguments), services, endpoints.
/// Built here so that both the server's own entry point and <c>chunkkv serve</c> start the same one.
/// </summary>
public static class ChunkKvServer
{
    public static WebApplication Build(string[] args)
    {
        // Responses and logs read the same whatever the host's locale.
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

        var builder = WebApplication.CreateBuilder(args);
        // CHUNKKV_POSTGRES, CHUNKKV_REDIS, CHUNKKV_MODEL, ... map onto the options (see README, "Configuration").
        builder.Configuration.AddEnvironmentVariables(prefix: "CHUNKKV_");
        builder.Configuration.AddCommandLine(args); // arguments still win over the environment
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
        {
            // A line per request is noise in a service's log; /metrics counts requests. Configurable as usual.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        AddServices(builder);
        var app = builder.Build();
        var hasModel = CheckStartUp(app);
        MapEndpoints(app, hasModel);
        return app;
    }

    private static void AddServices(WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            // A body that does not bind (malformed JSON, a wrong type) says why: that is the caller's to fix.
            if (context.Exception is BadHttpRequestException bad)
            {
                context.ProblemDetails.Title = "Bad request";
                context.ProblemDetails.Detail = bad.InnerException?.Message ?? bad.Message;
                // The client's to fix (malformed JSON, a body too large, too slow): a warning, no stack trace.
                context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("ChunkKv.Server.Requests").LogWarning(
                    "{Method} {Path}: {Status} {Reason}", context.HttpContext.Request.Method, context.HttpContext.Request.Path, bad.StatusCode,
                    context.ProblemDetails.Detail);
            }
            else if (context.Exception is ChunkKv.Retrieval.Indexing.CollectionNotFoundException)
            {
                // Checked at the request's start, then deleted by another request while this one ran.
                context.ProblemDetails.Title = "Unknown collection";
                context.ProblemDetails.Detail = "the collection was deleted while the request ran";
            }
            else if (context.Exception is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                // The index's database is down or unreachable: a clear 503 the client may retry, not a 500.
                context.ProblemDetails.Title = "Storage unavailable";
                context.ProblemDetails.Detail = "the retrieval database did not answer; try again shortly (GET /health shows the stores)";
            }
        });
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(options => options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        builder.Services.AddChunkKvStorage(builder.Configuration);
        builder.Services.AddChunkKvHealthChecks();
        builder.Services.AddChunkKvEngine(builder.Configuration);
        builder.Services.Configure<TenancyOptions>(builder.Configuration);
        builder.Services.AddSingleton<TenantFilter>();
    }

    /// <summary>Loads the model and checks the tenants now, so a bad setting stops the server at start-up with its reason.</summary>
    private static bool CheckStartUp(WebApplication app)
    {
        var hasModel = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value.Model is { Length: > 0 };
        if (hasModel)
        {
            var runtime = app.Services.GetRequiredService<ChunkKvRuntime>();
            ChunkKvMetrics.Observe(runtime.Store);
            app.Logger.LogInformation("model {Model} loaded ({Layers} layers); index {Index}; embedder {Embedder}", runtime.Model.Directory,
                runtime.Model.Config.Layers, runtime.Index.Provider, runtime.Embedder.Name);
        }
        else
        {
            app.Logger.LogWarning("no model configured (CHUNKKV_MODEL): /v1 answers 503 until the server is started with one");
        }
        var badTenant = app.Services.GetRequiredService<IOptions<TenancyOptions>>().Value.ApiKeys.FirstOrDefault(k => k.Tenant.Length == 0 || k.Tenant.Contains('~'));
        if (badTenant is not null)
        {
            throw new InvalidOperationException($"API key {badTenant.Sha256[..Math.Min(8, badTenant.Sha256.Length)]}...: a tenant needs a name without '~'");
        }
        if (app.Services.GetRequiredService<TenantFilter>().HasKeys)
        {
            app.Logger.LogInformation("API keys configured: each request acts for its key's tenant");
        }
        else
        {
            app.Logger.LogWarning("no API keys configured: single tenant, loopback callers only");
        }
        return hasModel;
    }

    /// <summary>503 with Retry-After while the retrieval database is being migrated at start-up (or is not reachable yet).</summary>
    private static IResult Starting(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "2";
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Starting",
            detail: "the retrieval database is not migrated yet (migrating, or not reachable yet); try again shortly (GET /health shows the stores)");
    }

    private static void MapEndpoints(WebApplication app, bool hasModel)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // Client errors (413, 408, a body that does not bind) and a collection deleted mid-request are
            // answered with their 4xx; logged as failures with stack traces they only hide real ones.
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException or ChunkKv.Retrieval.Indexing.CollectionNotFoundException,
            // The same mapping as a failure that ends a stream (Problems.Describe).
            StatusCodeSelector = exception => exception is BadHttpRequestException bad ? bad.StatusCode : Problems.Describe(exception).Status,
        });
        app.UseStatusCodePages();
        app.UseHttpMetrics(); // requests by route and status
        app.MapOpenApi();
        // The API reference page; its fonts are the browser's own, so it works with no internet.
        app.MapScalarApiReference("/docs", options => options.DisableDefaultFonts());
        app.MapHealthApi();
        app.MapMetrics("/metrics");
        app.MapPlayground();

        var migrations = app.Services.GetRequiredService<MigrateOnStartService>();
        var api = app.MapGroup("").AddEndpointFilter(async (context, next) =>
                !hasModel ? Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No model",
                    detail: "the server was started without a model (CHUNKKV_MODEL)")
                : !migrations.Done ? Starting(context.HttpContext)
                : await next(context))
            .AddEndpointFilter(app.Services.GetRequiredService<TenantFilter>());
        api.MapCollectionsApi();
        api.MapDocumentsApi();
        api.MapQueryApi();
        api.MapChatApi();
        api.MapJobsApi();
        api.MapCalibrationApi();
    }
}
