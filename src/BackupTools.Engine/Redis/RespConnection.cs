using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BackupTools.Model;

namespace BackupTools.Engine.Redis;

/// <summary>A reply error from Redis (<c>-ERR …</c>, <c>-NOPERM …</c>, <c>-WRONGPASS …</c>, <c>-MISCONF …</c>).</summary>
public sealed class RedisReplyException(string command, string reply) : Exception($"{command}: {reply}")
{
    public string Command { get; } = command;
    public string Reply { get; } = reply;
    public string Code => Reply.Split(' ', 2)[0];
}

/// <summary>
/// A minimal RESP2 connection: commands as arrays of bulk strings, replies parsed as they come. The replication
/// dump needs the raw socket after SYNC (a general client library cannot hand it over), so the few other commands
/// we send (AUTH, INFO, CONFIG GET, BGSAVE, SHUTDOWN NOSAVE) go through the same small client.
/// </summary>
public sealed class RespConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly BufferedStream _stream;

    private RespConnection(Socket socket)
    {
        _socket = socket;
        _stream = new BufferedStream(new NetworkStream(socket, ownsSocket: false), 1 << 16);
    }

    public string Endpoint { get; private init; } = "";

    /// <summary>Connects and authenticates (AUTH password, or AUTH user password for an ACL user).</summary>
    public static async Task<RespConnection> OpenAsync(TargetPolicy target, string? password, TimeSpan timeout, CancellationToken ct)
    {
        var socket = await ConnectAsync(target, timeout, ct);
        var connection = new RespConnection(socket) { Endpoint = target.Endpoint };
        try
        {
            if (password is not null)
            {
                try
                {
                    await (target.User is null ? connection.CommandAsync(ct, "AUTH", password) : connection.CommandAsync(ct, "AUTH", target.User, password));
                }
                catch (RedisReplyException e) when (e.Code is "WRONGPASS" or "ERR")
                {
                    // The reply never holds the password, but we still say it in our own words.
                    throw new RedisAuthException($"Redis at {connection.Endpoint} refused the login{(target.User is null ? "" : $" of user '{target.User}'")} for target '{target.Name}': {e.Reply}. Check the password the policy names (passwordEnv/passwordFile) or -Credential.");
                }
            }
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connected socket to the target: its Unix socket when the policy gives one, else host and port.</summary>
    public static async Task<Socket> ConnectAsync(TargetPolicy target, TimeSpan timeout, CancellationToken ct)
    {
        EndPoint endpoint = target.Socket is { } path
            ? new UnixDomainSocketEndPoint(path)
            : new DnsEndPoint(target.Host ?? "127.0.0.1", target.Port ?? 6379);
        var socket = target.Socket is not null
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
        connect.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, connect.Token);
            return socket;
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            socket.Dispose();
            throw new RedisConnectException($"Cannot connect to Redis at {target.Endpoint} for target '{target.Name}': {e.Message}. Check that the server runs and that {(target.Socket is null ? "host and port" : "socket")} in the policy {(target.Socket is null ? "are" : "is")} right.");
        }
    }

    /// <summary>Sends one command and returns its reply: string, long, null, or object?[] for arrays.</summary>
    public async Task<object?> CommandAsync(CancellationToken ct, params string[] args)
    {
        await SendAsync(ct, args);
        var reply = await ReadReplyAsync(ct);
        if (reply is RespError error) throw new RedisReplyException(args[0].ToUpperInvariant(), error.Message);
        return reply;
    }

    public async Task SendAsync(CancellationToken ct, params string[] args)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args) sb.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(sb.ToString()), ct);
        await _stream.FlushAsync(ct);
    }

    /// <summary>INFO &lt;section&gt; as key/value pairs.</summary>
    public async Task<Dictionary<string, string>> InfoAsync(string section, CancellationToken ct)
    {
        var text = (string?)await CommandAsync(ct, "INFO", section) ?? "";
        return text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && l[0] != '#' && l.Contains(':'))
            .Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    /// <summary>CONFIG GET of one parameter; null when CONFIG is not allowed (renamed, or the ACL user may not).</summary>
    public async Task<string?> ConfigGetAsync(string name, CancellationToken ct)
    {
        try
        {
            return await CommandAsync(ct, "CONFIG", "GET", name) is object?[] { Length: 2 } pair ? (string?)pair[1] : null;
        }
        catch (RedisReplyException)
        {
            return null;
        }
    }

    /// <summary>Reads one line up to CRLF (no CRLF in the result).</summary>
    public async Task<string> ReadLineAsync(CancellationToken ct)
    {
        var bytes = new List<byte>(64);
        var one = new byte[1];
        while (true)
        {
            if (await _stream.ReadAsync(one, ct) == 0) throw new EndOfStreamException($"Redis at {Endpoint} closed the connection.");
            if (one[0] == '\n')
            {
                if (bytes.Count > 0 && bytes[^1] == '\r') bytes.RemoveAt(bytes.Count - 1);
                return Encoding.UTF8.GetString(bytes.ToArray());
            }
            bytes.Add(one[0]);
        }
    }

    /// <summary>The raw stream, for the RDB payload that follows SYNC.</summary>
    public Stream RawStream => _stream;

    private async Task<object?> ReadReplyAsync(CancellationToken ct)
    {
        var line = await ReadLineAsync(ct);
        if (line.Length == 0) throw new InvalidDataException($"Redis at {Endpoint} sent an empty reply line.");
        var rest = line[1..];
        switch (line[0])
        {
            case '+': return rest;
            case '-': return new RespError(rest);
            case ':': return long.Parse(rest, CultureInfo.InvariantCulture);
            case '$':
            {
                var length = int.Parse(rest, CultureInfo.InvariantCulture);
                if (length < 0) return null;
                var data = new byte[length + 2];
                await _stream.ReadExactlyAsync(data, ct);
                return Encoding.UTF8.GetString(data, 0, length);
            }
            case '*':
            {
                var count = int.Parse(rest, CultureInfo.InvariantCulture);
                if (count < 0) return null;
                var items = new object?[count];
                for (var i = 0; i < count; i++) items[i] = await ReadReplyAsync(ct);
                return items;
            }
            default: throw new InvalidDataException($"Redis at {Endpoint} sent an unexpected reply: '{line}'.");
        }
    }

    private sealed record RespError(string Message);

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

public sealed class RedisConnectException(string message) : Exception(message);
public sealed class RedisAuthException(string message) : Exception(message);
