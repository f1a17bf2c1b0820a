using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Retrieval.Migrations;

namespace ChunkKv.Server.Tests;

/// <summary>Waiting for a server's start-up migration, as its /health reports it.</summary>
internal static class Schema
{
    /// <summary>The version of the newest migration the server carries.</summary>
    public static int Newest { get; } = Migration.Embedded().Max(m => m.Version);

    /// <summary>Returns once /health says the database is at <see cref="Newest"/>; throws after 10 s.</summary>
    public static async Task WaitForNewestAsync(HttpClient client)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var health = await client.GetFromJsonAsync<JsonElement>("/health");
            if (health.GetProperty("checks").GetProperty("postgres").GetProperty("data").TryGetProperty("schema_version", out var v) && v.GetInt32() == Newest)
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the server did not migrate the database within 10 s");
    }
}
