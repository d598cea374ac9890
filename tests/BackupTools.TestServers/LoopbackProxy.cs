using System.Net;
using System.Net.Sockets;

namespace BackupTools.TestServers;

/// <summary>
/// A TCP forwarder on a loopback port in front of a server's port, whose <see cref="CutAsync"/> is a network cut: every
/// forwarded connection is dropped and the port refuses new ones for a while, then listens again on the same port.
/// </summary>
public sealed class LoopbackProxy : IDisposable
{
    private volatile int _to;
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;
    private readonly CancellationTokenSource _stop = new();

    public LoopbackProxy(int to)
    {
        _to = to;
        Port = FreePort.Next();
        Listen();
    }

    public int Port { get; }

    /// <summary>While set, nothing is forwarded either way and nothing is closed: a network that silently drops everything.</summary>
    public bool Stalled { get => _stalled; set => _stalled = value; }

    private volatile bool _stalled;

    private void Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { return; }
                var server = new TcpClient();
                try { await server.ConnectAsync(IPAddress.Loopback, _to); }
                catch (SocketException) { client.Dispose(); server.Dispose(); continue; }
                lock (_open) { _open.Add(client); _open.Add(server); }
                _ = Pump(client, server);
                _ = Pump(server, client);
            }
        });
    }

    private async Task Pump(TcpClient from, TcpClient to)
    {
        var buffer = new byte[1 << 16];
        try
        {
            var a = from.GetStream();
            var b = to.GetStream();
            int n;
            while ((n = await a.ReadAsync(buffer)) > 0)
            {
                while (_stalled) await Task.Delay(20);
                await b.WriteAsync(buffer.AsMemory(0, n));
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or SocketException) { }
        from.Dispose();
        to.Dispose();
    }

    /// <summary>A failover: every connection dropped, and from now on the port leads to another server.</summary>
    public Task RetargetAsync(int to, TimeSpan down)
    {
        _to = to;
        return CutAsync(down);
    }

    /// <summary>Drops every connection (a reset) and refuses new ones for <paramref name="down"/>.</summary>
    public async Task CutAsync(TimeSpan down)
    {
        _listener?.Stop();
        lock (_open)
        {
            foreach (var c in _open)
            {
                try { c.Client.LingerState = new LingerOption(true, 0); } catch (Exception e) when (e is ObjectDisposedException or SocketException or NullReferenceException) { }
                c.Dispose();
            }
            _open.Clear();
        }
        await Task.Delay(down);
        Listen();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener?.Stop();
        lock (_open) foreach (var c in _open) c.Dispose();
    }
}
