using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ChunkKv.Cli.Bench;

/// <summary>
/// A bounded loopback load test of a running server: <c>clients</c> concurrent callers ask questions
/// of a collection for <c>seconds</c>; the p50/p99 of the server's own TTFT and of the whole request,
/// the errors, and the server's memory (from its <c>/metrics</c>) at the start and the end.
/// </summary>
public static partial class ServeBenchmark
{
    public sealed record Settings(HttpClient Client, string Collection, IReadOnlyList<string> Questions, int Clients, double Seconds, string? Method);

    public sealed record Report(int Clients, double Seconds, int Requests, int Errors, double TtftP50, double TtftP99, double RequestP50,
        double RequestP99, double RequestsPerSecond, long? MemoryStartBytes, long? MemoryEndBytes, IReadOnlyList<string> ErrorSamples)
    {
        private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

        public string ToJson() => JsonSerializer.Serialize(this, SnakeCase) + Environment.NewLine;

        public string ToTable() => string.Create(CultureInfo.InvariantCulture, $"""
            {Clients} clients for {Seconds:F0} s: {Requests} requests ({RequestsPerSecond:F2}/s), {Errors} errors
            server TTFT  p50 {TtftP50 * 1000:F1} ms   p99 {TtftP99 * 1000:F1} ms
            request      p50 {RequestP50 * 1000:F1} ms   p99 {RequestP99 * 1000:F1} ms
            server memory {Megabytes(MemoryStartBytes)} at the start, {Megabytes(MemoryEndBytes)} at the end

            """) + string.Concat(ErrorSamples.Select(e => $"  error: {e}{Environment.NewLine}"));

        private static string Megabytes(long? bytes) => bytes is { } b ? string.Create(CultureInfo.InvariantCulture, $"{b / 1e6:F0} MB") : "unknown";
    }

    public static async Task<Report> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var memoryStart = await MemoryAsync(settings.Client, cancellationToken);
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
        return new Report(settings.Clients, elapsed, durations.Count + errors.Count, errors.Count, Percentile(ttfts, 0.5), Percentile(ttfts, 0.99),
            Percentile(durations, 0.5), Percentile(durations, 0.99), durations.Count / elapsed, memoryStart, memoryEnd, errors.Distinct().Take(5).ToList());
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
