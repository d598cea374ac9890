using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Reads a connected socket with plain blocking recv calls on Linux. .NET keeps every socket non-blocking underneath
/// there, and a blocking Socket.Receive that finds nothing waits through its event loop thread (measured with strace on
/// a write-heavy binlog stream: per read about one EAGAIN recv, one epoll_wait, two futex calls and three
/// sched_yields), which was a fifth of the stream's CPU. Elsewhere it is Socket.Receive. The socket's receive timeout
/// (SO_RCVTIMEO) still bounds each read; shutting the socket down ends a read at once.
/// </summary>
internal sealed partial class BlockingSocketReader : IDisposable
{
    private const int GetFlags = 3, SetFlags = 4, NonBlock = 0x800, Interrupted = 4, WouldBlock = 11, Peek = 2;

    private readonly Socket _socket;
    private readonly int _fd = -1;
    private bool _referenced;

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, ref byte buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    public BlockingSocketReader(Socket socket)
    {
        _socket = socket;
        if (!OperatingSystem.IsLinux()) return;
        // Held while reading: the descriptor is not closed (and its number not reused) under a read in progress.
        socket.SafeHandle.DangerousAddRef(ref _referenced);
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        var flags = Fcntl(fd, GetFlags, 0);
        if (flags < 0 || Fcntl(fd, SetFlags, flags & ~NonBlock) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Dispose(); // else the socket's close would wait for this reference for ever
            throw new IOException($"Cannot make the replica connection blocking (errno {errno}).");
        }
        _fd = fd;
    }

    /// <summary>Bytes read (0: the peer closed); a <see cref="TimeoutException"/> when the receive timeout passed with nothing.</summary>
    public int Receive(byte[] buffer, int offset, int count)
    {
        if (_fd < 0)
        {
            try { return _socket.Receive(buffer, offset, count, SocketFlags.None); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut) { throw new TimeoutException(e.Message, e); }
        }
        // A read of nothing (TLS asks for one to wait for data without a buffer): wait until a byte is there, take none.
        var peek = count == 0;
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            var n = peek ? Recv(_fd, ref one[0], 1, Peek) : Recv(_fd, ref buffer[offset], count, 0);
            if (peek && n >= 0) return 0;
            if (n >= 0) return (int)n;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Interrupted) continue; // a signal (the runtime's own): read on
            if (errno == WouldBlock) throw new TimeoutException("nothing received within the receive timeout");
            throw new SocketException(errno);
        }
    }

    public void Dispose()
    {
        if (_referenced) _socket.SafeHandle.DangerousRelease();
        _referenced = false;
    }
}
