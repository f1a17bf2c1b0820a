using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Server.Tenancy;
using ChunkKv.Server.Tests.Api;

namespace ChunkKv.Server.Tests.Calibration;

/// <summary>
/// The fidelity gate through HTTP on the fixture model: a collection's calibration runs as a job,
/// is shown by the collection, gives queries their default method, warns about (or refuses) a
/// method that failed it, survives a restart and goes with the collection.
/// </summary>
public sealed class CalibrationTests : IDisposable
{
    private static readonly string Fixture = Path.Combine(ApiServer.RepoRoot(), "tests", "fixtures", "fixture-model");
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-calibration-{Guid.NewGuid():N}");

    private ServerFactory Server(string policy = "warn") => new(postgres: null, redis: null, new Dictionary<string, string?>
    {
        ["Model"] = Fixture, ["DataDirectory"] = _data, ["ChunkTokens"] = "160", ["FailedCalibration"] = policy,
    });

    private static readonly string[] SampleQuestions = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "samples", "questions.json")))
        .RootElement.EnumerateArray().Select(q => q.GetProperty("question").GetString()!).ToArray();

    private static async Task IngestSamplesAsync(HttpClient client, string collection = "notes")
    {
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/collections", new { name = collection })).StatusCode);
        foreach (var file in Directory.GetFiles(Path.Combine(Fixture, "samples"), "*.txt").Order(StringComparer.Ordinal))
        {
            var added = await client.PostAsJsonAsync($"/v1/collections/{collection}/documents",
                new { id = Path.GetFileNameWithoutExtension(file), text = await File.ReadAllTextAsync(file) });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
    }

    /// <summary>Submits a calibration and waits for its job to end; returns the ended job.</summary>
    private static async Task<JsonElement> CalibrateAsync(HttpClient client, object body, string collection = "notes")
    {
        var response = await client.PostAsJsonAsync($"/v1/collections/{collection}/calibrate", body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("calibrate", job.GetProperty("kind").GetString());
        var id = job.GetProperty("id").GetString()!;
        Assert.Equal($"/v1/jobs/{id}", response.Headers.Location?.OriginalString);
        return await Jobs.IngestJobTests.WaitUntilEndedAsync(client, id, seconds: 300);
    }

    private static async Task<JsonElement> CollectionAsync(HttpClient client, string name = "notes") =>
        await client.GetFromJsonAsync<JsonElement>($"/v1/collections/{name}");

    [Fact]
    public async Task A_calibration_runs_as_a_job_is_shown_by_the_collection_and_gives_queries_their_default()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        await IngestSamplesAsync(client);
        Assert.Equal(JsonValueKind.Null, (await CollectionAsync(client)).GetProperty("calibration").ValueKind);

        var job = await CalibrateAsync(client, new { prompts = 6, orders = 2, chunks_per_prompt = 3, questions = SampleQuestions });

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(("calibrating", 12, 12), (job.GetProperty("stage").GetString(), job.GetProperty("done").GetInt32(), job.GetProperty("total").GetInt32()));
        var calibration = (await CollectionAsync(client)).GetProperty("calibration");
        Assert.Equal(job.GetProperty("calibration").GetRawText(), calibration.GetRawText());
        Assert.Equal(12, calibration.GetProperty("prompts").GetInt32());
        Assert.Equal(0.99, calibration.GetProperty("target").GetProperty("agreement").GetDouble());
        var families = calibration.GetProperty("methods").EnumerateArray().ToDictionary(f => f.GetProperty("family").GetString()!);
        Assert.Equal(["cacheblend", "cachecraft", "epic", "query", "reuse"], families.Keys.Order(StringComparer.Ordinal));
        // On the fixture, CacheBlend keeps full's first token at small budgets (the CLI's calibration measured it from 0.05).
        Assert.NotNull(families["cacheblend"].GetProperty("smallest").GetString());
        var calibratedDefault = calibration.GetProperty("default").GetString();
        Assert.NotNull(calibratedDefault);

        var answered = await client.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[0], max_tokens = 4 });
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        var view = await answered.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(calibratedDefault, view.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("calibration_warning").ValueKind);
        Assert.False(answered.Headers.Contains("ChunkKv-Calibration-Warning"));

        // Kept on disk: a restarted server shows it and still defaults to it.
        await server.DisposeAsync();
        await using var restarted = Server();
        using var again = restarted.CreateClient();
        Assert.Equal(calibration.GetRawText(), (await CollectionAsync(again)).GetProperty("calibration").GetRawText());
        var afterRestart = await again.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[1], max_tokens = 4 });
        Assert.Equal(calibratedDefault, (await afterRestart.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("method").GetString());

        // It goes with the collection: one made again by that name starts uncalibrated.
        Assert.Equal(HttpStatusCode.NoContent, (await again.DeleteAsync("/v1/collections/notes")).StatusCode);
        await again.PostAsJsonAsync("/v1/collections", new { name = "notes" });
        Assert.Equal(JsonValueKind.Null, (await CollectionAsync(again)).GetProperty("calibration").ValueKind);
    }

    [Fact]
    public async Task A_method_that_failed_is_answered_with_the_measured_figures_or_refused_when_the_server_says_so()
    {
        string failed;
        {
            await using var server = Server();
            using var client = server.CreateClient();
            await IngestSamplesAsync(client);
            // A target only full itself meets: every family fails, and there is no calibrated default.
            var job = await CalibrateAsync(client, new { prompts = 3, orders = 1, chunks_per_prompt = 2, agreement = 1.0, kl = 0.0 });
            var calibration = job.GetProperty("calibration");
            Assert.Equal(JsonValueKind.Null, calibration.GetProperty("default").ValueKind);
            var epic = calibration.GetProperty("methods").EnumerateArray().Single(f => f.GetProperty("family").GetString() == "epic");
            Assert.Equal(JsonValueKind.Null, epic.GetProperty("smallest").ValueKind);
            failed = "epic:16";

            var answered = await client.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[0], method = failed, max_tokens = 4 });
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            var warning = Assert.Single(answered.Headers.GetValues("ChunkKv-Calibration-Warning"));
            Assert.StartsWith("epic met the calibration at no budget: at best epic:", warning);
            Assert.Contains("agreement 1", warning); // the target, stated beside what was measured
            var view = await answered.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(warning, view.GetProperty("calibration_warning").GetString());
            Assert.Equal(failed, view.GetProperty("method").GetString());

            // With no calibrated default, a query naming no method runs the server's, and is warned about it too.
            var byDefault = await client.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[0], max_tokens = 4 });
            Assert.Equal("cacheblend:0.15", (await byDefault.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("method").GetString());
            Assert.StartsWith("cacheblend met the calibration at no budget", Assert.Single(byDefault.Headers.GetValues("ChunkKv-Calibration-Warning")));
            // full is never judged.
            var full = await client.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[0], method = "full", max_tokens = 4 });
            Assert.False(full.Headers.Contains("ChunkKv-Calibration-Warning"));
        }
        await using var refusing = Server("refuse");
        using var strict = refusing.CreateClient();
        var refused = await strict.PostAsJsonAsync("/v1/query", new { collection = "notes", question = SampleQuestions[0], method = failed });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Method failed calibration", problem.GetProperty("title").GetString());
        Assert.Contains("epic met the calibration at no budget", problem.GetProperty("detail").GetString());
        var chat = await strict.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:notes", method = failed, messages = new[] { new { role = "user", content = SampleQuestions[0] } },
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, chat.StatusCode);
    }

    [Fact]
    public async Task Bad_calibrations_are_refused_before_any_job_starts()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync("/v1/collections/nothing/calibrate", new { })).StatusCode);
        await client.PostAsJsonAsync("/v1/collections", new { name = "empty" });
        var empty = await client.PostAsJsonAsync("/v1/collections/empty/calibrate", new { });
        Assert.Equal(HttpStatusCode.Conflict, empty.StatusCode);
        Assert.Contains("no ingested document", (await empty.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());

        foreach (var (body, field) in new (object Body, string Field)[]
        {
            (new { prompts = 0 }, "prompts"), (new { prompts = 100_000 }, "prompts"), (new { orders = 9 }, "orders"),
            (new { chunks_per_prompt = 0 }, "chunks_per_prompt"), (new { agreement = 1.5 }, "agreement"), (new { agreement = 0.0 }, "agreement"),
            (new { kl = -1.0 }, "kl"), (new { questions = new[] { "fine", " " } }, "questions"),
        })
        {
            var response = await client.PostAsJsonAsync("/v1/collections/empty/calibrate", body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{JsonSerializer.Serialize(body)}: {problem}");
        }
        Assert.Empty((await client.GetFromJsonAsync<JsonElement>("/v1/jobs")).GetProperty("jobs").EnumerateArray());
    }

    [Fact]
    public async Task Another_tenant_neither_sees_the_calibration_job_nor_can_calibrate_the_collection()
    {
        await using var server = new ServerFactory(postgres: null, redis: null, new Dictionary<string, string?>
        {
            ["Model"] = Fixture, ["DataDirectory"] = _data, ["ChunkTokens"] = "160", ["ApiKeys:0:Tenant"] = "alpha", ["ApiKeys:0:Sha256"] = TenancyOptions.Hash("key-a"),
            ["ApiKeys:1:Tenant"] = "beta", ["ApiKeys:1:Sha256"] = TenancyOptions.Hash("key-b"),
        });
        using var alpha = server.CreateClient();
        alpha.DefaultRequestHeaders.Authorization = new("Bearer", "key-a");
        using var beta = server.CreateClient();
        beta.DefaultRequestHeaders.Authorization = new("Bearer", "key-b");
        await IngestSamplesAsync(alpha);
        var job = await CalibrateAsync(alpha, new { prompts = 1, orders = 1, chunks_per_prompt = 2 });
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await beta.GetAsync($"/v1/jobs/{job.GetProperty("id").GetString()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await beta.PostAsJsonAsync("/v1/collections/notes/calibrate", new { })).StatusCode);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
