using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// A bounded loopback load test of a running server: <c>clients</c> concurrent callers ask questions
/// of a collection for <c>seconds</c>; the p50/p99 of the server's own TTFT and of the whole request,
/// the errors, and the server's memory (from its <c>/metrics</c>) at the start and the end. With a
/// document to ingest, it is sent as a background job when the load starts, and its end is awaited
/// after: queries measured while ingestion competes for the engine, and the ingestion still finishing.
/// </summary>
public static partial class ServeBenchmark
{
    /// <param name="IngestWhile">A document's text to ingest in the background during the load; null: none.</param>
    public sealed record Settings(HttpClient Client, string Collection, IReadOnlyList<string> Questions, int Clients, double Seconds, string? Method,
        string? IngestWhile = null);

    /// <param name="IngestState">The background ingestion's end state (<c>succeeded</c>), null without one.</param>
    /// <param name="IngestSeconds">From its submission to its end.</param>
    public sealed record Report(int Clients, double Seconds, int Requests, int Errors, double TtftP50, double TtftP99, double RequestP50,
        double RequestP99, double RequestsPerSecond, long? MemoryStartBytes, long? MemoryEndBytes, IReadOnlyList<string> ErrorSamples,
        string? IngestState = null, double? IngestSeconds = null)
    {
        private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

        public string ToJson() => JsonSerializer.Serialize(this, SnakeCase) + Environment.NewLine;

        public string ToTable() => string.Create(CultureInfo.InvariantCulture, $"""
            {Clients} clients for {Seconds:F0} s: {Requests} requests ({RequestsPerSecond:F2}/s), {Errors} errors
            server TTFT  p50 {TtftP50 * 1000:F1} ms   p99 {TtftP99 * 1000:F1} ms
            request      p50 {RequestP50 * 1000:F1} ms   p99 {RequestP99 * 1000:F1} ms
            server memory {Megabytes(MemoryStartBytes)} at the start, {Megabytes(MemoryEndBytes)} at the end

            """) + (IngestState is null ? "" : string.Create(CultureInfo.InvariantCulture,
                $"background ingestion during the load: {IngestState} after {IngestSeconds:F1} s{Environment.NewLine}")) + string.Concat(ErrorSamples.Select(e => $"  error: {e}{Environment.NewLine}"));

        private static string Megabytes(long? bytes) => bytes is { } b ? string.Create(CultureInfo.InvariantCulture, $"{b / 1e6:F0} MB") : "unknown";
    }

    public static async Task<Report> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var memoryStart = await MemoryAsync(settings.Client, cancellationToken);
        var ingestClock = Stopwatch.StartNew();
        var job = settings.IngestWhile is null ? null : await SubmitAsync(settings, cancellationToken);
        var ttfts = new List<double>();
        var durations = new List<double>();
        var errors = new List<string>();
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(settings.Seconds);
        async Task Caller(int caller)
        {
            for (var i = caller; clock.Elapsed < until; i += settings.Clients)
            {
                var request = Stopwatch.StartNew();
                try
                {
                    var response = await settings.Client.PostAsJsonAsync("/v1/query",
                        new { collection = settings.Collection, question = settings.Questions[i % settings.Questions.Count], method = settings.Method, max_tokens = 8 },
                        cancellationToken);
                    var body = await response.Content.ReadAsStringAsync(cancellationToken);
                    lock (durations)
                    {
                        if (response.IsSuccessStatusCode)
                        {
                            durations.Add(request.Elapsed.TotalSeconds);
                            ttfts.Add(JsonDocument.Parse(body).RootElement.GetProperty("timings").GetProperty("ttft").GetDouble());
                        }
                        else
                        {
                            errors.Add($"{(int)response.StatusCode}: {body[..Math.Min(200, body.Length)]}");
                        }
                    }
                }
                catch (HttpRequestException e)
                {
                    lock (durations)
                    {
                        errors.Add(e.Message);
                    }
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, settings.Clients).Select(Caller));
        var elapsed = clock.Elapsed.TotalSeconds;
        var memoryEnd = await MemoryAsync(settings.Client, cancellationToken);
        var ingestState = job is null ? null : await WaitForJobAsync(settings.Client, job, cancellationToken);
        return new Report(settings.Clients, elapsed, durations.Count + errors.Count, errors.Count, Percentile(ttfts, 0.5), Percentile(ttfts, 0.99),
            Percentile(durations, 0.5), Percentile(durations, 0.99), durations.Count / elapsed, memoryStart, memoryEnd, errors.Distinct().Take(5).ToList(),
            ingestState, job is null ? null : ingestClock.Elapsed.TotalSeconds);
    }

    /// <summary>Sends the document as a background job; its job id.</summary>
    private static async Task<string> SubmitAsync(Settings settings, CancellationToken cancellationToken)
    {
        var response = await settings.Client.PostAsJsonAsync($"/v1/collections/{settings.Collection}/documents?background=true",
            new { id = $"bench-ingest-{Guid.NewGuid():N}", text = settings.IngestWhile }, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode
            ? JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!
            : throw new CommandFailedException($"the background ingestion was refused: {(int)response.StatusCode} {body[..Math.Min(300, body.Length)]}");
    }

    /// <summary>Polls the job until it ends (ten minutes at most); its state.</summary>
    private static async Task<string> WaitForJobAsync(HttpClient client, string job, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var state = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{job}", cancellationToken)).RootElement.GetProperty("state").GetString()!;
            if (state is "succeeded" or "failed" or "cancelled" || deadline.Elapsed > TimeSpan.FromMinutes(10))
            {
                return state;
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    /// <summary>The server's resident memory from prometheus-net's process metrics, when it exports them.</summary>
    private static async Task<long?> MemoryAsync(HttpClient client, CancellationToken cancellationToken)
    {
        try
        {
            var metrics = await client.GetStringAsync("/metrics", cancellationToken);
            var match = ResidentMemory().Match(metrics);
            return match.Success ? (long)double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^process_working_set_bytes ([0-9.eE+]+)$", RegexOptions.Multiline)]
    private static partial Regex ResidentMemory();
}
