using System.Text.Json;

namespace ChunkKv.Cli.Tests;

/// <summary><c>chunkkv serve</c>, then <c>ingest</c> and <c>ask</c> against it, all through the command line.</summary>
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-serve-{Guid.NewGuid():N}");

    [Fact]
    public async Task Serve_answers_what_ingest_sent_and_ask_prints_the_answer_and_timings()
    {
        var model = Path.Combine(Cli.RepoRoot(), "tests", "fixtures", "fixture-model");
        var url = $"http://127.0.0.1:{Cli.FreePort()}";
        using var stop = new CancellationTokenSource();
        using var serveOutput = new StringWriter();
        using var serveError = new StringWriter();
        var serving = CliApp.RunAsync(["serve", "--model", model, "--urls", url, "--data", _data, "--postgres", "", "--redis", ""],
            serveOutput, serveError, stop.Token);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            await WaitForHealthAsync(http, serving);

            var samples = Path.Combine(model, "samples");
            var (code, output, error) = await Cli.RunAsync("ingest", samples, "--collection", "notes", "--server", url);
            Assert.True(code == CliApp.Ok, error);
            var lines = output.Trim().Split('\n');
            Assert.Equal(3, lines.Length);
            Assert.All(lines, line => Assert.Contains(": ingested, ", line));

            var sample = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(samples, "questions.json"))).RootElement[0];
            var question = sample.GetProperty("question").GetString()!;
            (code, output, error) = await Cli.RunAsync("ask", question, "--collection", "notes", "--server", url, "--compare", "full");
            Assert.True(code == CliApp.Ok, error);
            // Retrieved, fused and answered: the sample's gold answer is the first line.
            Assert.Equal(sample.GetProperty("answer").GetString(), output.Split('\n')[0].Trim());
            Assert.Contains("method cacheblend:0.15: TTFT", output);
            Assert.Contains("full", output);

            // The server calibrates the collection on its own chunks; its queries then default to what it found.
            (code, output, error) = await Cli.RunAsync("calibrate", "--collection", "notes", "--server", url, "--limit", "2", "--orders", "1", "--json");
            Assert.True(code == CliApp.Ok, error);
            var calibration = JsonDocument.Parse(output).RootElement;
            Assert.Equal(2, calibration.GetProperty("prompts").GetInt32());
            Assert.Equal(5, calibration.GetProperty("methods").GetArrayLength());
            var calibrated = calibration.GetProperty("default").GetString() ?? "cacheblend:0.15";
            (code, output, error) = await Cli.RunAsync("ask", question, "--collection", "notes", "--server", url);
            Assert.True(code == CliApp.Ok, error);
            Assert.Contains($"method {calibrated}: TTFT", output);
            (code, _, error) = await Cli.RunAsync("calibrate", "--collection", "notes", "--model", model);
            Assert.Equal(CliApp.Usage, code);
            Assert.Contains("not with --model", error);

            // The load test: a short one here; the closing notes give the 60-second figures.
            (code, output, error) = await Cli.RunAsync("bench", "serve", "--collection", "notes", "--clients", "2", "--seconds", "2",
                "--server", url, "--json");
            Assert.True(code == CliApp.Ok, error);
            var load = JsonDocument.Parse(output).RootElement;
            Assert.True(load.GetProperty("requests").GetInt32() > 0);
            Assert.Equal(0, load.GetProperty("errors").GetInt32());
            Assert.True(load.GetProperty("ttft_p50").GetDouble() > 0);

            (code, _, error) = await Cli.RunAsync("ask", question, "--collection", "missing", "--server", url);
            Assert.Equal(CliApp.Failed, code);
            Assert.Contains("404 Unknown collection", error);
        }
        finally
        {
            await stop.CancelAsync();
        }
        Assert.Equal(CliApp.Ok, await serving);
    }

    [Fact]
    public async Task Serve_with_a_missing_model_directory_fails_with_its_name()
    {
        var (code, _, error) = await Cli.RunAsync("serve", "--model", "/nonexistent/model");

        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("model directory '/nonexistent/model' does not exist", error);
    }

    [Theory]
    [InlineData("--weights", "int3", "weights must be one of auto|f32|bf16|f16|q8, not 'int3'")]
    [InlineData("--weight-memory", "swäp", "weight memory must be one of auto|mapped|huge-pages, not 'swäp'")]
    public async Task Serve_refuses_a_bad_weight_setting_naming_the_option_before_starting(string option, string value, string message)
    {
        var model = Path.Combine(Cli.RepoRoot(), "tests", "fixtures", "fixture-model");
        var (code, _, error) = await Cli.RunAsync("serve", "--model", model, "--data", _data, option, value);

        Assert.Equal(CliApp.Usage, code);
        Assert.Contains($"{option}: {message}", error);
        Assert.False(Directory.Exists(_data)); // refused before the server made anything
    }

    [Fact]
    public async Task Serve_reports_a_bad_setting_from_the_environment_as_a_failed_start_not_a_crash()
    {
        // Its own process: the environment is the server's configuration, and a crash would abort it.
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "ChunkKv.Cli.dll"), "serve",
                     "--model", Path.Combine(Cli.RepoRoot(), "tests", "fixtures", "fixture-model"), "--data", _data,
                     "--urls", $"http://127.0.0.1:{Cli.FreePort()}", "--postgres", "", "--redis", "" })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["CHUNKKV_WEIGHTMEMORY"] = "swap";
        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        _ = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(CliApp.Failed, process.ExitCode);
        Assert.Contains("the server did not start: weight memory must be one of auto|mapped|huge-pages, not 'swap'", await error);
    }

    private static async Task WaitForHealthAsync(HttpClient http, Task<int> serving)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            Assert.False(serving.IsCompleted, "the server stopped during start-up");
            try
            {
                if ((await http.GetAsync("/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(100);
        }
        Assert.Fail("the server did not answer /health within 30 s");
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
