using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BackupTools.Engine.MariaDb;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>
/// A loopback server that speaks just enough of the protocol for BinlogReceiver (greeting, login, three statements,
/// the dump) and then sends the events a test made: what a damaged or hostile server could send, which a real one
/// does not. Events are payloads as the dump sends them: 0x00, then the event.
/// </summary>
internal static class FakeBinlogServer
{
    public static readonly byte[] Magic = [0xFE, (byte)'b', (byte)'i', (byte)'n'];
    private const int HeaderLength = 19, FormatDescriptionSize = HeaderLength + 2 + 50 + 4 + 1 + 10 + 1 + 4;

    /// <summary>Where the event after the Format_description starts in a file.</summary>
    public const int FirstEventAt = 4 + FormatDescriptionSize;

    private static byte[] Event(uint timestamp, byte type, uint logPos, byte[] body)
    {
        var size = HeaderLength + body.Length;
        var e = new byte[1 + size];
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(1), timestamp);
        e[5] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(6), 1); // server id
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(10), (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(14), logPos);
        body.CopyTo(e, 1 + HeaderLength);
        return e;
    }

    /// <summary>The Rotate with no time that names the file the next Format_description starts (no checksum).</summary>
    public static byte[] FakeRotate(string name) => Event(0, 4, 0, [.. BitConverter.GetBytes(4L), .. Encoding.ASCII.GetBytes(name)]);

    /// <summary>A Format_description of a binlog without checksums, ending where a file's first one ends unless told.</summary>
    public static byte[] FormatDescription(uint? logPos = null)
    {
        var version = new byte[50];
        Encoding.ASCII.GetBytes("10.11.0-fake").CopyTo(version, 0);
        byte[] body = [4, 0, .. version, 1, 0, 0, 0, HeaderLength, .. new byte[10], 0 /* checksum off */, 0, 0, 0, 0];
        return Event(1, 15, logPos ?? (uint)(4 + FormatDescriptionSize), body);
    }

    /// <summary>A Query event at <paramref name="at"/> with a body of that many bytes.</summary>
    public static byte[] Query(int at, int bodyLength) =>
        Event(1, 2, (uint)(at + HeaderLength + bodyLength), Enumerable.Range(0, bodyLength).Select(i => (byte)('a' + i % 26)).ToArray());

    /// <summary>
    /// Serves one connection that sends <paramref name="events"/> in one write; runs a receiver against it until it
    /// stops. Returns the bytes of the file it wrote for <paramref name="file"/> (empty when none) and why it stopped.
    /// </summary>
    public static async Task<(byte[] File, string Error)> ReceiveAsync(string work, string file, IReadOnlyList<byte[]> events)
    {
        var directory = Path.Combine(work, "fake");
        Directory.CreateDirectory(directory);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(stop.Token);
            var stream = client.GetStream();
            await WriteAsync(stream, 0, Greeting());
            await ReadAsync(stream); // the login
            await WriteAsync(stream, 2, [0, 0, 0, 2, 0, 0, 0]);
            for (var i = 0; i < 3; i++)
            {
                await ReadAsync(stream); // SET …
                await WriteAsync(stream, 1, [0, 0, 0, 2, 0, 0, 0]);
            }
            await ReadAsync(stream); // COM_BINLOG_DUMP
            var all = new MemoryStream();
            byte sequence = 1;
            foreach (var e in events)
            {
                all.Write([(byte)e.Length, (byte)(e.Length >> 8), (byte)(e.Length >> 16), sequence++]);
                all.Write(e);
            }
            await stream.WriteAsync(all.ToArray(), stop.Token);
            try { _ = await stream.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false, stop.Token); } // until the receiver goes
            catch (Exception e) when (e is IOException or OperationCanceledException) { }
        });
        var target = new TargetPolicy { Name = "fake", Engine = TargetEngine.MariaDb, Host = "127.0.0.1", Port = ((IPEndPoint)listener.LocalEndpoint).Port, User = "backup" };
        string error;
        using (var receiver = BinlogReceiver.Connect(target, null, 4_343_100, file, directory, TimeSpan.FromSeconds(10), CancellationToken.None))
        {
            var run = Task.Factory.StartNew(receiver.Run, TaskCreationOptions.LongRunning);
            try
            {
                await run.WaitAsync(TimeSpan.FromSeconds(10));
                error = "";
            }
            catch (BinlogReceiverException e) { error = e.Message; }
        }
        await stop.CancelAsync();
        try { await serve; } catch (OperationCanceledException) { }
        var path = Path.Combine(directory, file);
        return (File.Exists(path) ? await File.ReadAllBytesAsync(path) : [], error);
    }

    private static byte[] Greeting()
    {
        var capabilities = BitConverter.GetBytes(0x1u | 0x200 | 0x8000 | 0x80000); // long password, 4.1, secure connection, plugin auth (no TLS)
        return
        [
            10, .. Encoding.ASCII.GetBytes("10.11.0-fake"), 0, 1, 0, 0, 0, .. "abcdefgh"u8, 0,
            capabilities[0], capabilities[1], 45, 2, 0, capabilities[2], capabilities[3], 21,
            .. new byte[10], .. "ijklmnopqrst"u8, 0, .. Encoding.ASCII.GetBytes("mysql_native_password"), 0,
        ];
    }

    private static async Task WriteAsync(NetworkStream stream, byte sequence, byte[] payload)
    {
        await stream.WriteAsync(new byte[] { (byte)payload.Length, (byte)(payload.Length >> 8), (byte)(payload.Length >> 16), sequence });
        await stream.WriteAsync(payload);
    }

    private static async Task<byte[]> ReadAsync(NetworkStream stream)
    {
        var header = new byte[4];
        await stream.ReadExactlyAsync(header);
        var payload = new byte[header[0] | header[1] << 8 | header[2] << 16];
        await stream.ReadExactlyAsync(payload);
        return payload;
    }
}
