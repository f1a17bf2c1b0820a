using System.Diagnostics;
using StackExchange.Redis;

namespace ChunkKv.Tests.Caching;

/// <summary>
/// A Redis Cluster of three masters of the test's own (Debian's redis-server with cluster mode on, made
/// one cluster by <c>redis-cli --cluster create</c>), on loopback, whose nodes the test may kill. A
/// master that goes leaves the others serving their slots (<c>cluster-require-full-coverage no</c>),
/// as a deployment that treats Redis as a cache sets it.
/// </summary>
internal sealed class RedisCluster : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("chunkkv-cluster-").FullName;

    public RedisCluster()
    {
        Nodes = Enumerable.Range(0, 3).Select(i => new RedisServer("--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
            "--cluster-require-full-coverage", "no", "--cluster-config-file", Path.Combine(_folder, $"nodes-{i}.conf"))).ToList();
        Run("redis-cli", ["--cluster", "create", .. Nodes.Select(n => $"127.0.0.1:{n.Port}"), "--cluster-replicas", "0", "--cluster-yes"]);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!Nodes.All(n => Run("redis-cli", ["-p", n.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "cluster", "info"])
                   .Contains("cluster_state:ok", StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("the cluster did not come up");
            }
            Thread.Sleep(100);
        }
    }

    public IReadOnlyList<RedisServer> Nodes { get; }

    /// <summary>Every node, as CHUNKKV_REDIS lists them for a cluster.</summary>
    public string Configuration => string.Join(',', Nodes.Select(n => $"127.0.0.1:{n.Port}"));

    /// <summary>The node that holds <paramref name="key"/>'s slot.</summary>
    public RedisServer NodeOf(ConnectionMultiplexer connection, RedisKey key)
    {
        var endpoint = (System.Net.IPEndPoint)connection.GetDatabase().IdentifyEndpoint(key)!;
        return Nodes.Single(n => n.Port == endpoint.Port);
    }

    private static string Run(string program, string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output
            : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed: {output}{process.StandardError.ReadToEnd()}");
    }

    public void Dispose()
    {
        foreach (var node in Nodes)
        {
            node.Dispose();
        }
        Directory.Delete(_folder, recursive: true);
    }
}
