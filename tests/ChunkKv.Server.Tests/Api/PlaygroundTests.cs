using System.Net.Http.Json;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace ChunkKv.Server.Tests.Api;

/// <summary>The server on a loopback port, for a real browser.</summary>
public sealed class KestrelApiServer : ApiServer
{
    protected override bool UseKestrel => true;
}

/// <summary>
/// The playground page in a real browser (Debian's chromium, headless, through Playwright): create a
/// collection, ingest a document, ask with CacheBlend, and see the streamed answer, the retrieved
/// chunks with their recomputed tokens marked, and a TTFT bar per compared method. A screenshot
/// is kept in the test output folder.
/// </summary>
public sealed class PlaygroundTests(KestrelApiServer server, ITestOutputHelper output) : IClassFixture<KestrelApiServer>
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_document_is_ingested_and_a_question_answered_in_the_page()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/setup.sh installs Debian's chromium");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu"], // root in a container: no sandbox to drop into
        });
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, message) => errors.Add(message);
        await page.GotoAsync(server.Client.BaseAddress!.ToString());

        await page.FillAsync("#new-collection", "browser");
        await page.FillAsync("#new-chunk-tokens", "40");
        await page.ClickAsync("#create");
        await Assertions.Expect(page.Locator("#collection-status")).ToContainTextAsync("collection browser ready (40 tokens per chunk)");
        await Assertions.Expect(page.Locator("#collection")).ToHaveValueAsync("browser");

        await page.FillAsync("#doc-id", "notes");
        await page.FillAsync("#doc-text", string.Join(' ', Enumerable.Range(0, 30).Select(i => $"Layer {i} keeps the keys of chunk {i % 7}.")));
        await page.ClickAsync("#ingest");
        await Assertions.Expect(page.Locator("#ingest-status")).ToContainTextAsync("notes: ingested", new() { Timeout = 60_000 });

        await page.FillAsync("#question", "Which layer keeps the keys of chunk 3?");
        await page.SelectOptionAsync("#method", "cacheblend:0.15");
        await page.ClickAsync("#ask");
        await Assertions.Expect(page.Locator("#ask-status")).ToHaveTextAsync("done", new() { Timeout = 60_000 });

        // The page shows the streamed answer: what the API answers for the same greedy query (the random
        // model may well answer in whitespace, so the text is compared, not judged).
        var shown = await page.TextContentAsync("#answer");
        var asked = await server.Client.PostAsJsonAsync("/v1/query",
            new { collection = "browser", question = "Which layer keeps the keys of chunk 3?", method = "cacheblend:0.15" });
        var answer = System.Text.Json.JsonDocument.Parse(await asked.Content.ReadAsStringAsync()).RootElement.GetProperty("answer").GetString();
        Assert.False(string.IsNullOrEmpty(shown), "the streamed answer is shown");
        Assert.Equal(answer, shown);
        Assert.True(await page.Locator("#sources .source").CountAsync() > 0, "the retrieved chunks are shown");
        Assert.True(await page.Locator("#sources .tok.recomputed").CountAsync() > 0, "recomputed tokens are marked");
        await Assertions.Expect(page.Locator("#bars .bar")).ToHaveCountAsync(3); // cacheblend, full, reuse
        await Assertions.Expect(page.Locator("#timings")).ToContainTextAsync("TTFT");

        var screenshot = Path.Combine(AppContext.BaseDirectory, "playground.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.Empty(errors);
    }
}
