using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// The main job's set-up (the fixture model, its sample documents in one collection, 160-token
/// chunks, the server's default embedder, method and neighbours) answers every sample question
/// through the API. The cross-chunk ones need the chunk after the hit: it opens with "They" and
/// never names the person, so no embedder finds it alone.
/// </summary>
public sealed class SampleQuestionsTests : IDisposable
{
    private static readonly string Fixture = Path.Combine(ApiServer.RepoRoot(), "tests", "fixtures", "fixture-model");
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-samples-{Guid.NewGuid():N}");

    private ServerFactory Server() => new(postgres: null, redis: null, new Dictionary<string, string?>
    {
        ["Model"] = Fixture, ["DataDirectory"] = _data, ["ChunkTokens"] = "160", ["Embedder"] = "minilm",
    });

    [Fact]
    public async Task Every_sample_question_is_answered_with_the_servers_defaults()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/collections", new { name = "samples" })).StatusCode);
        foreach (var file in Directory.GetFiles(Path.Combine(Fixture, "samples"), "*.txt").Order(StringComparer.Ordinal))
        {
            var added = await client.PostAsJsonAsync("/v1/collections/samples/documents",
                new { id = Path.GetFileNameWithoutExtension(file), text = await File.ReadAllTextAsync(file) });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        var questions = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Fixture, "samples", "questions.json"))).RootElement;
        var wrong = new List<string>();
        foreach (var sample in questions.EnumerateArray())
        {
            var question = sample.GetProperty("question").GetString()!;
            var response = await client.PostAsJsonAsync("/v1/query", new { collection = "samples", question, max_tokens = 8 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("answer").GetString()!.Split('\n')[0].Trim();
            if (answer != sample.GetProperty("answer").GetString())
            {
                wrong.Add($"{question} ({sample.GetProperty("kind").GetString()}): '{answer}'");
            }
        }
        Assert.True(wrong.Count == 0, "wrong: " + string.Join("; ", wrong));
    }

    [Fact]
    public async Task The_chunk_after_the_best_hit_comes_along_within_top_k_and_neighbours_out_of_range_are_refused()
    {
        await using var server = Server();
        using var client = server.CreateClient();
        await client.PostAsJsonAsync("/v1/collections", new { name = "samples" });
        var file = Path.Combine(Fixture, "samples", "team-notes-1.txt");
        await client.PostAsJsonAsync("/v1/collections/samples/documents", new { id = "notes", text = await File.ReadAllTextAsync(file) });
        async Task<List<JsonElement>> SourcesAsync(object body) =>
            (await (await client.PostAsJsonAsync("/v1/query", body)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sources").EnumerateArray().ToList();

        // Alone, the best hit is the chunk that names Riroko; the fact is in the next one.
        var alone = await SourcesAsync(new { collection = "samples", question = "Where was Riroko born?", top_k = 1, max_tokens = 1, neighbours = new { after = 0 } });
        var best = Assert.Single(alone).GetProperty("ordinal").GetInt32();
        var withNext = await SourcesAsync(new { collection = "samples", question = "Where was Riroko born?", top_k = 2, max_tokens = 1 });

        Assert.Equal([best, best + 1], withNext.Select(s => s.GetProperty("ordinal").GetInt32()));
        Assert.All(withNext, s => Assert.Equal("hit", s.GetProperty("cache").GetString())); // stored at ingestion like every chunk
        Assert.Contains("Zudravale", withNext[1].GetProperty("content").GetString(), StringComparison.Ordinal);

        var refused = await client.PostAsJsonAsync("/v1/query", new { collection = "samples", question = "x", neighbours = new { before = 9 } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("neighbours", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
