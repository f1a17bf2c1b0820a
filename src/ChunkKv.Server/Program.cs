using System.Globalization;
using ChunkKv.Server.Health;
using ChunkKv.Server.Storage;

// Responses and logs read the same whatever the host's locale.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var builder = WebApplication.CreateBuilder(args);
// CHUNKKV_POSTGRES, CHUNKKV_REDIS, ... map onto the options below (see README, "Configuration").
builder.Configuration.AddEnvironmentVariables(prefix: "CHUNKKV_");

builder.Services.AddProblemDetails();
builder.Services.AddOpenApi();
builder.Services.AddChunkKvStorage(builder.Configuration);
builder.Services.AddChunkKvHealthChecks();

var app = builder.Build();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.MapOpenApi();
app.MapHealthApi();
app.Run();

/// <summary>Entry point, visible to the in-process API tests.</summary>
public partial class Program;
