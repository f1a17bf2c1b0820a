using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ChunkKv.Server.Tests.Api;

/// <summary>A client's mistake is logged as a warning without a stack trace, never as a failure of the server.</summary>
public sealed class ClientErrorLoggingTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-logging-{Guid.NewGuid():N}");

    [Fact]
    public async Task A_body_that_does_not_bind_is_a_warning_not_an_error()
    {
        var logs = new CapturingProvider();
        await using var server = new ServerFactory(null, null, new Dictionary<string, string?> { ["Model"] = ApiServer.Model, ["DataDirectory"] = _data });
        using var client = server.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddLogging(l => l.AddProvider(logs)))).CreateClient();

        var response = await client.PostAsync("/v1/query", new StringContent("{\"collection\":", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning && e.Category == "ChunkKv.Server.Requests");
        Assert.Contains("/v1/query: 400", warning.Message, StringComparison.Ordinal);
        Assert.Null(warning.Exception);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private sealed record Entry(string Category, LogLevel Level, string Message, Exception? Exception);

    private sealed class CapturingProvider : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new Entry(category, logLevel, formatter(state, exception), exception));
        }
    }
}
