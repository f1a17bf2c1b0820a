using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;

namespace ChunkKv.Server.Tests;

/// <summary>The real server in process, talking HTTP, with its stores pointed where a test says (and the hashing embedder unless it says otherwise).</summary>
public sealed class ServerFactory(string? postgres, string? redis, IReadOnlyDictionary<string, string?>? settings = null)
    : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder) =>
        // Added after the server's own sources, so these win over the CHUNKKV_* environment.
        builder.ConfigureAppConfiguration(config => config.AddInMemoryCollection(new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["Postgres"] = postgres ?? "",
            ["Redis"] = redis ?? "",
            ["Model"] = settings?.GetValueOrDefault("Model") ?? "",
            // The tests pin the embedder that needs no weights (fast, and what their retrieval was written
            // against); the default, MiniLM, has tests of its own (DefaultEmbedderTests).
            ["Embedder"] = settings?.GetValueOrDefault("Embedder") ?? "hashing",
        }));
}
