using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ChunkKv.Tests.Caching;

/// <summary>A real redis-server of the test's own, on a free loopback port, that the test may stop and start again.</summary>
internal sealed class RedisServer : IDisposable
{
    private readonly string[] _arguments;
    private Process? _process;

    /// <param name="arguments">More redis-server options (a cluster node's).</param>
    public RedisServer(params string[] arguments)
    {
        _arguments = arguments;
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Start();
    }

    public int Port { get; }
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=1000,syncTimeout=1000";

    public void Start()
    {
        _process = Process.Start(new ProcessStartInfo("redis-server",
            ["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--save", "", "--appendonly", "no", "--loglevel", "warning", .. _arguments])
        { RedirectStandardOutput = true })!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }
        throw new InvalidOperationException($"redis-server did not start on port {Port}");
    }

    public void Stop()
    {
        _process?.Kill();
        _process?.WaitForExit();
        _process = null;
    }

    public void Dispose() => Stop();
}
