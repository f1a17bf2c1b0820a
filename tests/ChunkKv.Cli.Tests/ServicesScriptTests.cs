using System.Diagnostics;

namespace ChunkKv.Cli.Tests;

/// <summary>scripts/services-stop.sh stops what services-start.sh started, and nothing else.</summary>
public sealed class ServicesScriptTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-services-{Guid.NewGuid():N}");

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return await RunAsync(start);
    }

    private static async Task<(int Code, string Output)> RunAsync(ProcessStartInfo start)
    {
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task Stop_leaves_alone_a_Redis_it_did_not_start()
    {
        Directory.CreateDirectory(_data);
        var port = Cli.FreePort();
        var (started, log) = await RunAsync("redis-server", "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--daemonize", "yes", "--save", "", "--dir", _data, "--pidfile", Path.Combine(_data, "someone-else.pid"));
        Assert.True(started == 0, log);
        try
        {
            var stop = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            stop.ArgumentList.Add(Path.Combine(Cli.RepoRoot(), "scripts", "services-stop.sh"));
            stop.Environment["CHUNKKV_DATA_DIR"] = _data; // no pid file of services-start.sh in it
            stop.Environment["CHUNKKV_REDIS_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var (code, output) = await RunAsync(stop);

            Assert.True(code == 0, output);
            Assert.Contains("leaving the Redis", output, StringComparison.Ordinal);
            var (pinged, pong) = await RunAsync("redis-cli", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "ping");
            Assert.Equal((0, "PONG"), (pinged, pong.Trim()));
        }
        finally
        {
            await RunAsync("redis-cli", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "shutdown", "nosave");
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
