using System.Net.Security;
using System.Net.Sockets;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// The replica connection's bytes: the socket read with plain blocking calls (<see cref="BlockingSocketReader"/>), and
/// TLS over it once the login asks for it. Reads return 0 when the peer or <see cref="Close"/> ends the connection,
/// and throw <see cref="SilenceException"/> when nothing came within the socket's receive timeout.
/// </summary>
internal sealed class ReplicaTransport : IDisposable
{
    private readonly Socket _socket;
    private readonly BlockingSocketReader _reader;
    private readonly object _gate = new();
    private Stream _stream;
    private bool _closed;
    private bool _readerReleased;
    private int _readers;

    public ReplicaTransport(Socket socket)
    {
        _socket = socket;
        _reader = new BlockingSocketReader(socket);
        _stream = new PlainStream(this);
    }

    public bool Encrypted { get; private set; }

    /// <summary>
    /// TLS from here on, as MySqlConnector's default (SslMode=Preferred) does for the module's other connections:
    /// the traffic is encrypted, the server's certificate is not checked.
    /// </summary>
    public void StartTls(string host)
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        try { tls.AuthenticateAsClient(new SslClientAuthenticationOptions { TargetHost = host }); }
        catch (System.Security.Authentication.AuthenticationException e)
        {
            tls.Dispose();
            throw new BinlogReceiverException($"TLS with the server failed: {BinlogReceiver.Printable(e.GetBaseException().Message)}");
        }
        _stream = tls;
        Encrypted = true;
    }

    public int Read(byte[] buffer, int offset, int count)
    {
        try { return _stream.Read(buffer, offset, count); }
        catch (IOException e) when (e is not SilenceException && e.InnerException is SilenceException silence) { throw silence; }
    }

    // The descriptor stays open while a read uses it (the binlog's, or TLS's own during its handshake): Close shuts the
    // socket down, which ends the read, and the last reader out releases it.
    private bool EnterRead()
    {
        lock (_gate)
        {
            if (_closed) return false;
            _readers++;
            return true;
        }
    }

    private void ExitRead()
    {
        lock (_gate)
        {
            _readers--;
            if (_closed && _readers == 0) ReleaseReader();
        }
    }

    public void Write(byte[] buffer)
    {
        if (Encrypted) _stream.Write(buffer);
        else SendAll(buffer, 0, buffer.Length);
    }

    private void SendAll(byte[] buffer, int offset, int count)
    {
        var sent = 0;
        while (sent < count) sent += _socket.Send(buffer, offset + sent, count - sent, SocketFlags.None);
    }

    /// <summary>Ends the connection from any thread: a read in progress returns at once.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            // Ends a read in progress (it returns 0); its reader then releases the descriptor on the way out.
            try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            if (_readers == 0) ReleaseReader();
        }
        // Outside the lock: .NET's Dispose waits until the reader's reference is released, which needs the lock.
        _socket.Dispose();
    }

    private void ReleaseReader()
    {
        if (_readerReleased) return;
        _readerReleased = true;
        _reader.Dispose();
        if (_stream is SslStream tls) tls.Dispose(); // no read uses it any more: its native context goes now, not at finalisation
    }

    public void Dispose() => Close();

    /// <summary>The socket as a stream, for TLS to run over.</summary>
    private sealed class PlainStream(ReplicaTransport owner) : Stream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (!owner.EnterRead()) return 0;
            try { return owner._reader.Receive(buffer, offset, count); }
            catch (TimeoutException) { throw new SilenceException(); }
            finally { owner.ExitRead(); }
        }

        public override void Write(byte[] buffer, int offset, int count) => owner.SendAll(buffer, offset, count);

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

/// <summary>Nothing came from the server within the receive timeout.</summary>
internal sealed class SilenceException() : IOException("nothing received within the receive timeout");
