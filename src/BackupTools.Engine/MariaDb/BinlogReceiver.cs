using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// The stream's own replica connection: it asks the server for its binary log from the start of one file (the
/// replication protocol's COM_BINLOG_DUMP, as <c>mariadb-binlog --read-from-remote-server --raw --stop-never</c> does)
/// and writes each event into a file of the server's name, byte for byte the server's file (the raw mode's rules: a
/// Format_description event starts a file with the binlog magic, the Rotate event the server sends before it names
/// that file, a Rotate with no time and heartbeats are not in any file).
///
/// Why not mariadb-binlog: measured on a write-heavy load (bench/BinlogStream.Bench.ps1), the tool makes two write
/// calls and one or two reads for every event of about 7 KB (a 4 KB stdio buffer, flushed at each event), which is
/// most of what the stream cost beyond the server. Here every read of the socket takes up to a megabyte, and the whole
/// events in it go to the file in one vectored write. Only whole events are written, so the file never ends inside one.
///
/// What it checks: every event's end position (log_pos) must be where the file is after writing it, so a byte lost or
/// doubled anywhere stops the stream at once with the position, rather than leaving a file a restore would misread.
/// </summary>
public sealed partial class BinlogReceiver : IDisposable
{
    // Event types (MariaDB's log_event.h) and header layout.
    private const byte RotateEvent = 4, FormatDescriptionEvent = 15, HeartbeatEvent = 27;
    private const int HeaderLength = 19, TypeOffset = 4, SizeOffset = 9, LogPosOffset = 13;
    private const int MaxPacket = 0xFFFFFF;
    // Reads of at least 64 KB into a 1 MB buffer; an event may be as long as the server's largest packet (1 GB).
    private const int MinRead = 64 * 1024, InitialBuffer = 1 << 20, MaxPending = (1 << 30) + (1 << 20);
    private static readonly byte[] Magic = [0xFE, (byte)'b', (byte)'i', (byte)'n'];

    private readonly ReplicaTransport _transport;
    private readonly string _directory;
    private byte[] _buffer = new byte[InitialBuffer];
    private readonly string _basename;
    private readonly List<(int Offset, int Length)> _one = [(0, 0)]; // the one packet of most events, without a list each
    private SafeFileHandle? _file;
    private string? _fileName;
    private long _fileLength; // taken, of whole events
    private long _written; // of those, written
    private string? _nextName;
    private bool _checksummed;
    private volatile bool _stopping;

    /// <summary>The server sends a heartbeat after this much silence; no byte for <see cref="SilenceLimit"/> is a dead connection.</summary>
    public static TimeSpan HeartbeatPeriod { get; internal set; } = TimeSpan.FromSeconds(2); // set by tests only

    public static TimeSpan SilenceLimit => HeartbeatPeriod * 5;

    /// <summary>Test hook: a plugin named here is taken as one this client does not speak (the stream's fallback to mariadb-binlog, with a login the module can make).</summary>
    internal static string? UnspokenPluginHook;

    /// <summary>Whether the connection runs over TLS (over TCP, when the server offers it).</summary>
    public bool Encrypted => _transport.Encrypted;

    /// <summary>The file being written and its length (whole events only), for a test to watch.</summary>
    public (string? File, long Length) Position => (_fileName, _fileLength);

    private BinlogReceiver(ReplicaTransport transport, string directory, string file)
    {
        _transport = transport;
        _directory = directory;
        _basename = file.LastIndexOf('.') is var dot and > 0 ? file[..dot] : file;
    }

    /// <summary>
    /// Connects and logs in (mysql_native_password; a server-side plugin such as unix_socket needs no answer), then asks
    /// for <paramref name="file"/> from its start as replica <paramref name="serverId"/>. Throws
    /// <see cref="BinlogReceiverException"/> with the server's message when it refuses.
    /// </summary>
    public static BinlogReceiver Connect(Model.TargetPolicy target, string? password, int serverId, string file, string directory, TimeSpan timeout, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var socket = Open(target, timeout, ct);
        BinlogReceiver receiver;
        try { receiver = new BinlogReceiver(new ReplicaTransport(socket), directory, file); }
        catch
        {
            socket.Dispose();
            throw;
        }
        // Ctrl+C while the server is slow to answer: the socket closes and the blocking calls below return.
        using var stop = ct.Register(receiver.Dispose);
        try
        {
            socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
            socket.SendTimeout = (int)timeout.TotalMilliseconds;
            var session = new Session(receiver);
            // TLS over TCP when the server offers it (the module's other connections do the same); a Unix socket is local.
            session.Login(target.User ?? Environment.UserName, password, tlsHost: target.Socket is null ? target.Host ?? "localhost" : null);
            // What mariadb-binlog says before its dump (measured with strace against 10.11): the server then sends the
            // events as they are in its file, checksums included, and MariaDB's own events (GTID, annotations).
            session.Query("SET @master_binlog_checksum='NONE'");
            session.Query("SET @mariadb_slave_capability=4");
            // Silence on a live connection is at most a heartbeat period; longer is a dead peer (a cut network a
            // blocking replica would otherwise wait on forever).
            session.Query(FormattableString.Invariant($"SET @master_heartbeat_period={(long)HeartbeatPeriod.TotalMilliseconds * 1_000_000}"));
            var name = Encoding.UTF8.GetBytes(file);
            var dump = new byte[11 + name.Length];
            dump[0] = 0x12; // COM_BINLOG_DUMP
            BinaryPrimitives.WriteUInt32LittleEndian(dump.AsSpan(1), 4); // from the file's first event
            BinaryPrimitives.WriteUInt16LittleEndian(dump.AsSpan(5), 2); // BINLOG_SEND_ANNOTATE_ROWS_EVENT
            BinaryPrimitives.WriteUInt32LittleEndian(dump.AsSpan(7), (uint)serverId);
            name.CopyTo(dump.AsSpan(11));
            session.Send(dump, sequence: 0);
            socket.ReceiveTimeout = (int)SilenceLimit.TotalMilliseconds;
            receiver._nextName = file;
            return receiver;
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            receiver.Dispose();
            throw new OperationCanceledException(ct);
        }
        catch
        {
            receiver.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The server's Unix socket or TCP port (each address of the host name in turn), within the timeout; Ctrl+C ends the
    /// wait. Reads then go through <see cref="ReplicaTransport"/>, which makes the descriptor blocking.
    /// </summary>
    private static Socket Open(Model.TargetPolicy target, TimeSpan timeout, CancellationToken ct)
    {
        var socket = target.Socket is not null
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }; // dual mode: IPv6 and IPv4 addresses
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(timeout);
        try
        {
            if (target.Socket is { } path) socket.ConnectAsync(new UnixDomainSocketEndPoint(path), wait.Token).AsTask().GetAwaiter().GetResult();
            else
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
                socket.ConnectAsync(target.Host ?? "localhost", target.Port ?? 3306, wait.Token).AsTask().GetAwaiter().GetResult();
            }
            return socket;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"No connection to {target.Socket ?? $"{target.Host ?? "localhost"}:{target.Port ?? 3306}"} within {timeout.TotalSeconds:0} s.");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Receives until the connection ends or <see cref="Dispose"/> is called (then it returns quietly). Blocking, on
    /// the caller's thread: one read call per batch of events. A server error, a dead connection or an event that
    /// does not follow the file is thrown.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // compiled once, optimised: no tier-up work in the first burst of events
    public void Run()
    {
        var start = 0;
        var end = 0;
        var segments = new List<ReadOnlyMemory<byte>>(64);
        try
        {
            while (true)
            {
                if (_buffer.Length - end < MinRead || (_buffer.Length > InitialBuffer && end - start + MinRead <= InitialBuffer))
                {
                    // Move the unfinished packet to the front: into a buffer as large as the event it begins when that
                    // is longer than this one, back into a small one once a long event is written.
                    var pending = end - start;
                    var needed = Math.Max(pending, PacketBytes(start, end)) + MinRead;
                    if (needed > MaxPending + MinRead)
                        throw new BinlogReceiverException($"the server sent an event of more than {MaxPending / (1 << 20)} MB, longer than any the server can write");
                    var size = needed > _buffer.Length ? (int)Math.Min(Array.MaxLength, (needed + InitialBuffer - 1) / InitialBuffer * InitialBuffer)
                        : needed <= InitialBuffer ? InitialBuffer : _buffer.Length;
                    var target = size == _buffer.Length ? _buffer : new byte[size];
                    Buffer.BlockCopy(_buffer, start, target, 0, pending);
                    _buffer = target;
                    start = 0;
                    end = pending;
                }
                int read;
                try { read = _transport.Read(_buffer, end, _buffer.Length - end); }
                catch (SilenceException)
                {
                    throw new BinlogReceiverException($"no event and no heartbeat from the server in {SilenceLimit.TotalSeconds:0} s: the connection is taken as dead");
                }
                if (read == 0) throw new BinlogReceiverException("the server closed the connection");
                end += read;
                // Whole events before a refusal or a mismatch are written all the same: they are the server's. A
                // failing write then does not hide why the stream stopped.
                try { start = TakePackets(start, end, segments); }
                catch (BinlogReceiverException)
                {
                    try { Flush(segments); } catch (IOException) { }
                    throw;
                }
                Flush(segments);
            }
        }
        catch (Exception e) when (_stopping && e is IOException or SocketException or ObjectDisposedException) { } // TLS cut mid-record included
        finally
        {
            _file?.Dispose();
            _file = null;
        }
    }

    /// <summary>Every whole packet in buffer[start..end): events to write become segments; returns where the unfinished rest starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int TakePackets(int start, int end, List<ReadOnlyMemory<byte>> segments)
    {
        while (end - start >= 4)
        {
            var length = _buffer[start] | _buffer[start + 1] << 8 | _buffer[start + 2] << 16;
            if (length == MaxPacket)
            {
                // An event of 16 MB or more comes in several packets: taken once all of them are here.
                var parts = LongPacket(start, end);
                if (parts is null) return start;
                Event(parts, segments);
                start = parts[^1].Offset + parts[^1].Length;
                continue;
            }
            if (end - start < 4 + length) return start;
            _one[0] = (start + 4, length);
            Event(_one, segments);
            start += 4 + length;
        }
        return start;
    }

    /// <summary>
    /// The bytes, packet headers included, of the payload that begins at <paramref name="start"/>, as far as its first
    /// packet tells (an event's own length is in its header); 0 while not even that is here.
    /// </summary>
    private long PacketBytes(int start, int end)
    {
        if (end - start < 4) return 0;
        var length = _buffer[start] | _buffer[start + 1] << 8 | _buffer[start + 2] << 16;
        if (length < MaxPacket) return 4L + length;
        if (end - start < 4 + 1 + HeaderLength) return 0;
        var payload = 1L + BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(start + 4 + 1 + SizeOffset));
        return payload + 4 * (payload / MaxPacket + 1);
    }

    /// <summary>The packets of one long payload (each of 16 MB - 1 but the last), or null while not all are here.</summary>
    private List<(int Offset, int Length)>? LongPacket(int start, int end)
    {
        var parts = new List<(int Offset, int Length)>();
        var at = start;
        while (true)
        {
            if (end - at < 4) return null;
            var length = _buffer[at] | _buffer[at + 1] << 8 | _buffer[at + 2] << 16;
            if (end - at < 4 + length) return null;
            parts.Add((at + 4, length));
            at += 4 + length;
            if (length < MaxPacket) return parts;
        }
    }

    /// <summary>
    /// One payload of the dump (in one packet or several): an event after its 0x00 mark, the end of the dump, or the
    /// server's error. Nothing of the file's state changes unless the event is taken.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Event(List<(int Offset, int Length)> parts, List<ReadOnlyMemory<byte>> segments)
    {
        var first = new ReadOnlyMemory<byte>(_buffer, parts[0].Offset, parts[0].Length);
        var span = first.Span;
        var total = 0L;
        foreach (var p in parts) total += p.Length;
        if (span.Length == 0) throw new BinlogReceiverException("the server sent an empty packet");
        if (span[0] == 0xFF) throw new BinlogReceiverException(Session.ErrorText(span));
        if (span[0] == 0xFE && total < 9) throw new BinlogReceiverException("the server ended the dump");
        if (span[0] != 0x00 || span.Length < 1 + HeaderLength) throw new BinlogReceiverException($"the server sent a packet that is not an event (first byte 0x{span[0]:X2}, {total} bytes)");
        var header = span[1..];
        var size = BinaryPrimitives.ReadUInt32LittleEndian(header[SizeOffset..]);
        if (size != total - 1) throw new BinlogReceiverException($"an event says it has {size} bytes but its packet holds {total - 1}");
        var type = header[TypeOffset];
        if (type == HeartbeatEvent) return;
        var startsFile = false;
        if (type is RotateEvent or FormatDescriptionEvent)
        {
            if (parts.Count > 1) throw new BinlogReceiverException($"the server sent a {(type == RotateEvent ? "Rotate" : "Format_description")} event of {size} bytes");
            if (type == RotateEvent)
            {
                // A Rotate with no time is the server's note of the file that follows (at the start and after each
                // rotation), never in a file. A real one ends the file it is in, and is written there.
                _nextName = RotateTarget(header);
                if (BinaryPrimitives.ReadUInt32LittleEndian(header) == 0) return;
            }
            else
            {
                // Each file starts with its Format_description event: the file the last Rotate named begins here.
                if (_nextName is null) throw new BinlogReceiverException("the server sent a Format_description event that no Rotate named a file for");
                startsFile = true;
            }
        }
        if (_file is null && !startsFile) throw new BinlogReceiverException($"the server sent an event (type {type}) before the Format_description event that starts a file");
        // An event's log_pos is where the next one starts in the server's file: it must be where this file is after
        // it. The dump starts at a file's start, so every event the server sends for a file carries one.
        var endsAt = (startsFile ? Magic.Length : _fileLength) + size;
        var logPos = BinaryPrimitives.ReadUInt32LittleEndian(header[LogPosOffset..]);
        if (logPos != (uint)endsAt)
            throw new BinlogReceiverException($"an event (type {type}) of {(startsFile ? _nextName : _fileName)} ends at {logPos} on the server but at {endsAt} in the streamed copy: " +
                                              "the stream is out of step, and stops rather than write a damaged file");
        if (startsFile)
        {
            Flush(segments);
            Open(_nextName!);
            _nextName = null; // the next file is named by the next Rotate, never this one again
            // Its last five bytes: the checksum algorithm (1 = CRC32) and its checksum (always there from 5.6.1 on).
            _checksummed = header[^5] == 1;
            segments.Add(Magic);
        }
        segments.Add(first[1..]);
        for (var i = 1; i < parts.Count; i++) segments.Add(new ReadOnlyMemory<byte>(_buffer, parts[i].Offset, parts[i].Length));
        _fileLength = endsAt;
    }

    private string RotateTarget(ReadOnlySpan<byte> ev)
    {
        // Header, the next file's first position (8 bytes), its name, and a CRC32 when the binlog has checksums. The
        // Rotate sent before any Format_description is checked by its CRC itself.
        if (ev.Length <= HeaderLength + 8) throw new BinlogReceiverException($"the server sent a Rotate event of {ev.Length} bytes, too short to name a file");
        var name = ev[(HeaderLength + 8)..];
        var checksummed = _file is null ? name.Length > 4 && Crc32(ev[..^4]) == BinaryPrimitives.ReadUInt32LittleEndian(ev[^4..]) : _checksummed;
        if (checksummed) name = name.Length > 4 ? name[..^4] : [];
        var text = Encoding.UTF8.GetString(name);
        // Only a file of the log this dump began with: never a path, a dot name (the stream's held copies), its state.
        var digits = text.StartsWith(_basename + ".", StringComparison.Ordinal) ? text[(_basename.Length + 1)..] : "";
        if (digits.Length is 0 or > 10 || !digits.All(char.IsAsciiDigit))
            throw new BinlogReceiverException($"the server named a binary log file '{Printable(text)}', not one of {_basename}.<number>");
        return text;
    }

    private void Open(string name)
    {
        _file?.Dispose();
        _file = null;
        _fileName = name;
        _fileLength = 0;
        _written = 0;
        var path = Path.Combine(_directory, name);
        // The stream moves a file it resumes aside before asking for it, so only an empty leftover can be here; one with
        // bytes is never written over. CreateNew (O_EXCL) also refuses a link planted under the name.
        var existing = new FileInfo(path);
        if (existing.Exists && existing.LinkTarget is null && existing.Length == 0) existing.Delete();
        try { _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete); }
        catch (IOException) when (File.Exists(path) || existing.LinkTarget is not null)
        {
            throw new BinlogReceiverException($"{path} is already there and not empty (or is a link): the stream does not write over it. " +
                                              "Move it out of the stream directory once it is safe elsewhere; the stream then receives the server's file again.");
        }
    }

    /// <summary>The events gathered from one read go to the file in one vectored write, after what is written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Flush(List<ReadOnlyMemory<byte>> segments)
    {
        if (segments.Count == 0) return;
        var length = 0L;
        foreach (var s in segments) length += s.Length;
        RandomAccess.Write(_file!, segments, _written);
        _written += length;
        segments.Clear();
    }

    public void Dispose()
    {
        _stopping = true;
        _transport.Close();
    }

    /// <summary>Text from the server as it may go into a log line or the state file: no control characters, at most 300 characters.</summary>
    internal static string Printable(string text)
    {
        var clean = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return clean.Length > 300 ? clean[..300] + "…" : clean;
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(i =>
    {
        var c = (uint)i;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}

/// <summary>The binary-log connection failed or was refused: the message says by whom and why.</summary>
public class BinlogReceiverException(string message) : IOException(message);

/// <summary>The login uses an authentication plugin this client does not speak: the stream runs mariadb-binlog instead.</summary>
public sealed class UnsupportedAuthenticationException(string plugin)
    : BinlogReceiverException($"the login uses the authentication plugin '{plugin}', which the stream's own connection does not speak")
{
    public string Plugin { get; } = plugin;
}
