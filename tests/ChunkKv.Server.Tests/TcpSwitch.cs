using System.Net;
using System.Net.Sockets;

namespace ChunkKv.Server.Tests;

/// <summary>
/// A loopback TCP forwarder to a real server that can be switched off (every connection through
/// it cut, new ones refused) and on again: a store that goes down and comes back, for real.
/// </summary>
internal sealed class TcpSwitch : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;
    private Task _accepting = Task.CompletedTask;

    public TcpSwitch(string host, int port)
    {
        _target = new IPEndPoint(IPAddress.Parse(host == "localhost" ? "127.0.0.1" : host), port);
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
    }

    public int Port { get; }

    public void On()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        var listener = _listener;
        _accepting = Task.Run(async () =>
        {
            while (true)
            {
                TcpClient client;
                try
                {
                    client = await listener.AcceptTcpClientAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }
                var server = new TcpClient();
                await server.ConnectAsync(_target);
                lock (_open)
                {
                    _open.AddRange([client, server]);
                }
                _ = Pump(client, server);
                _ = Pump(server, client);
            }
        });
    }

    public async Task OffAsync()
    {
        _listener?.Stop();
        await _accepting;
        lock (_open)
        {
            foreach (var connection in _open)
            {
                connection.Dispose();
            }
            _open.Clear();
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // switched off
        }
        from.Dispose();
        to.Dispose();
    }

    public async ValueTask DisposeAsync() => await OffAsync();
}
