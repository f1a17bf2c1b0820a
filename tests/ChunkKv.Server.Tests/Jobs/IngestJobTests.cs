using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Server.Engine;
using ChunkKv.Server.Tests.Api;
using ChunkKv.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace ChunkKv.Server.Tests.Jobs;

/// <summary>Large documents through background jobs: progress, cancellation, and resuming after the server stops.</summary>
public sealed class IngestJobTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-jobs-{Guid.NewGuid():N}");

    private ServerFactory Server(string? postgres = null) => new(postgres, null, new Dictionary<string, string?>
    {
        ["Model"] = ApiServer.Model,
        ["DataDirectory"] = _data,
        ["ChunkTokens"] = "48",
        ["BackgroundAboveCharacters"] = "1500",
        ["JobRetrySeconds"] = "0.2",
    });

    private static string Prose(int sentences, int seed) => string.Join(" ", Enumerable.Range(0, sentences)
        .Select(i => $"Sentence {i + seed} says the cache of chunk {(i * 7 + seed) % 13} keeps its keys in layer {i % 5}."));

    /// <summary>Polls the job until it has ended (any kind of job); fails the test after <paramref name="seconds"/>.</summary>
    internal static async Task<JsonElement> WaitUntilEndedAsync(HttpClient client, string job, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var view = await client.GetFromJsonAsync<JsonElement>($"/v1/jobs/{job}");
            if (view.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled")
            {
                return view;
            }
            Assert.True(DateTime.UtcNow < deadline, $"job {job} still {view.GetProperty("state").GetString()} after {seconds} s");
            await Task.Delay(100);
        }
    }

    private static async Task<string> SubmitAsync(HttpClient client, string id, string text, string query = "")
    {
        var response = await client.PostAsJsonAsync($"/v1/collections/docs/documents{query}", new { id, text, metadata = new { size = "large" } });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal($"/v1/jobs/{job.GetProperty("id").GetString()}", response.Headers.Location?.OriginalString);
        Assert.Equal(id, job.GetProperty("document_id").GetString());
        return job.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_large_document_becomes_a_job_that_reports_progress_and_ends_searchable()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        var small = await client.PostAsJsonAsync("/v1/collections/docs/documents", new { id = "small", text = Prose(3, 1) });
        Assert.Equal(HttpStatusCode.Created, small.StatusCode); // under the threshold: ingested before the response

        var job = await SubmitAsync(client, "large", Prose(60, 2));
        var ended = await WaitUntilEndedAsync(client, job);

        Assert.Equal("succeeded", ended.GetProperty("state").GetString());
        Assert.Equal(ended.GetProperty("total").GetInt32(), ended.GetProperty("done").GetInt32());
        Assert.True(ended.GetProperty("total").GetInt32() > 3);
        var result = ended.GetProperty("result");
        Assert.Equal(("large", "ingested"), (result.GetProperty("id").GetString(), result.GetProperty("outcome").GetString()));
        var document = await client.GetFromJsonAsync<JsonElement>("/v1/collections/docs/documents/large");
        Assert.Equal("ready", document.GetProperty("status").GetString());
        Assert.Equal(result.GetProperty("chunks").GetInt32(), document.GetProperty("chunks").GetInt32());
        var listed = await client.GetFromJsonAsync<JsonElement>("/v1/jobs");
        Assert.Equal([job], listed.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()));
        Assert.Equal(HttpStatusCode.Conflict, (await client.DeleteAsync($"/v1/jobs/{job}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/jobs/nothing")).StatusCode);
    }

    [Fact]
    public async Task A_cancelled_job_ends_cancelled_and_leaves_no_document()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        var engine = server.Services.GetRequiredService<CollectionService>();
        await engine.Compute.WaitAsync(); // the engine is busy: jobs wait their turn

        var waiting = await SubmitAsync(client, "first", Prose(4, 1), "?background=true");
        var behind = await SubmitAsync(client, "second", Prose(4, 2), "?background=true");
        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/v1/jobs/{behind}")).StatusCode);
        Assert.Equal("cancelled", (await client.GetFromJsonAsync<JsonElement>($"/v1/jobs/{behind}")).GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/v1/jobs/{waiting}")).StatusCode);
        var ended = await WaitUntilEndedAsync(client, waiting);
        engine.Compute.Release();

        Assert.Equal("cancelled", ended.GetProperty("state").GetString());
        Assert.True(ended.GetProperty("cancel_requested").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/collections/docs/documents/first")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/collections/docs/documents/second")).StatusCode);
        var third = await SubmitAsync(client, "third", Prose(4, 3), "?background=true"); // the runner goes on
        Assert.Equal("succeeded", (await WaitUntilEndedAsync(client, third)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_job_unfinished_when_the_server_stops_resumes_when_it_starts_again()
    {
        string job;
        await using (var first = Server())
        {
            using var client = first.CreateClient();
            await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
            await first.Services.GetRequiredService<CollectionService>().Compute.WaitAsync(); // never released: the server stops first
            job = await SubmitAsync(client, "large", Prose(40, 5));
            Assert.Equal("queued", (await client.GetFromJsonAsync<JsonElement>($"/v1/jobs/{job}")).GetProperty("state").GetString());
        }
        File.WriteAllText(Path.Combine(_data, "jobs", "torn.json"), "{\"id\":\"torn\",\"sta"); // a file that does not read

        await using var second = Server();
        using var again = second.CreateClient();
        var ended = await WaitUntilEndedAsync(again, job);

        Assert.Equal("succeeded", ended.GetProperty("state").GetString());
        Assert.Equal("ready", (await again.GetFromJsonAsync<JsonElement>("/v1/collections/docs/documents/large")).GetProperty("status").GetString());
        Assert.True(File.Exists(Path.Combine(_data, "jobs", "torn.json.bad")));
    }

    [Fact]
    public async Task A_job_that_meets_the_database_down_waits_and_finishes_once_it_is_back()
    {
        await using var db = await TestDatabase.CreateAsync();
        var real = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString);
        await using var link = new TcpSwitch(real.Host!, real.Port);
        link.On();
        // A connect timeout that a busy 2-core machine (the whole suite running) still meets while the link is up.
        var through = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Port = link.Port, Timeout = 5 };
        await using var server = Server(through.ConnectionString);
        using var client = server.CreateClient();
        await Schema.WaitForNewestAsync(client);
        var created = await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var engine = server.Services.GetRequiredService<CollectionService>();
        await engine.Compute.WaitAsync(); // the job waits its turn while the database goes down
        var job = await SubmitAsync(client, "large", Prose(40, 6));

        await link.OffAsync();
        engine.Compute.Release();
        JsonElement view;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "the job never met the database down");
            await Task.Delay(100);
            view = await client.GetFromJsonAsync<JsonElement>($"/v1/jobs/{job}");
        }
        while (view.GetProperty("error").ValueKind != JsonValueKind.String);
        Assert.Equal("queued", view.GetProperty("state").GetString()); // not failed: it runs again
        Assert.StartsWith("retrying after:", view.GetProperty("error").GetString());

        link.On();
        var ended = await WaitUntilEndedAsync(client, job);

        Assert.Equal("succeeded", ended.GetProperty("state").GetString());
        Assert.Equal("ready", (await client.GetFromJsonAsync<JsonElement>("/v1/collections/docs/documents/large")).GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("?background=yes")]
    [InlineData("?background=1")]
    public async Task A_bad_background_flag_is_refused(string query)
    {
        await using var server = Server();
        using var client = server.CreateClient();
        await client.PostAsJsonAsync("/v1/collections", new { name = "docs" });
        var response = await client.PostAsJsonAsync($"/v1/collections/docs/documents{query}", new { id = "a", text = "Some text." });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
