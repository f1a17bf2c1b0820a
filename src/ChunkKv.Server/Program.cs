using ChunkKv.Server.Health;
using ChunkKv.Server.Storage;

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
