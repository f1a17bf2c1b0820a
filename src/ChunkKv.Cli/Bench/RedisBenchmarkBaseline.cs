using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Serialization;
using StackExchange.Redis;

namespace ChunkKv.Cli.Bench;

/// <summary>What redis-benchmark measured against the same server with values of the entries' size.</summary>
public sealed record RedisBaselineFigures(
    [property: JsonPropertyName("value_bytes")] int ValueBytes,
    [property: JsonPropertyName("clients")] int Clients,
    [property: JsonPropertyName("requests")] int Requests,
    [property: JsonPropertyName("set_mb_per_s")] double SetMegabytesPerSecond,
    [property: JsonPropertyName("get_mb_per_s")] double GetMegabytesPerSecond);

/// <summary>
/// Runs Redis's own <c>redis-benchmark -t set,get -d SIZE -c CLIENTS</c> (Debian's redis-tools) on the
/// server the Redis tier was measured on: the ceiling a client of that server can reach for
/// values of that size, measured in the same run. Its SET fills the key its GET then reads.
/// </summary>
public static class RedisBenchmarkBaseline
{
    public static async Task<(RedisBaselineFigures? Figures, string? Note)> RunAsync(string configuration, int valueBytes, int clients,
        CancellationToken cancellationToken)
    {
        var options = ConfigurationOptions.Parse(configuration);
        var (host, port) = options.EndPoints.FirstOrDefault() switch
        {
            DnsEndPoint dns => (dns.Host, dns.Port == 0 ? 6379 : dns.Port),
            IPEndPoint ip => (ip.Address.ToString(), ip.Port == 0 ? 6379 : ip.Port),
            _ => (null, 0),
        };
        if (host is null)
        {
            return (null, $"redis-benchmark skipped: no endpoint in '{configuration}'");
        }
        // Enough requests for about half a second of 6 MB values at 1 GB/s, and at least 20.
        var requests = Math.Max(20, 500_000_000 / Math.Max(1, valueBytes));
        var arguments = new List<string>
        {
            "-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "-t", "set,get",
            "-d", valueBytes.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture),
            "-c", clients.ToString(CultureInfo.InvariantCulture), "--csv",
        };
        if (options.Password is { Length: > 0 } password)
        {
            arguments.AddRange(["-a", password, "--no-auth-warning"]);
        }
        var start = new ProcessStartInfo("redis-benchmark") { RedirectStandardOutput = true, RedirectStandardError = true };
        arguments.ForEach(start.ArgumentList.Add);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("redis-benchmark did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (null, "redis-benchmark not found (Debian's redis-tools): no baseline for the Redis tier");
        }
        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            var rates = Parse(output);
            if (process.ExitCode != 0 || !rates.TryGetValue("SET", out var set) || !rates.TryGetValue("GET", out var get))
            {
                return (null, $"redis-benchmark failed (exit {process.ExitCode}): {(await process.StandardError.ReadToEndAsync(cancellationToken)).Trim()}");
            }
            return (new RedisBaselineFigures(valueBytes, clients, requests, set * valueBytes / 1e6, get * valueBytes / 1e6), null);
        }
    }

    /// <summary>Requests per second by test name, from <c>--csv</c> output: <c>"GET","123.45",...</c> after a header line.</summary>
    private static Dictionary<string, double> Parse(string csv)
    {
        var rates = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',').Select(f => f.Trim('"')).ToArray();
            if (fields.Length >= 2 && double.TryParse(fields[1], CultureInfo.InvariantCulture, out var perSecond))
            {
                rates[fields[0]] = perSecond;
            }
        }
        return rates;
    }
}
