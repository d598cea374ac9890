using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace BackupTools.TestServers;

/// <summary>
/// A throwaway redis-server on a free loopback port with its own directory and no save points; Debian's by default, or
/// another program that takes the same options (<see cref="NewerServers"/>: Redis 8.0, Valkey 8.0).
/// </summary>
public sealed class RedisServer : IDisposable
{
    private RedisServer(string program, string baseDir, int port, int pid)
    {
        Program = program;
        BaseDirectory = baseDir;
        Port = port;
        ProcessId = pid;
    }

    /// <summary>The server program this one runs.</summary>
    public string Program { get; }

    public string BaseDirectory { get; }
    public int Port { get; }
    public int ProcessId { get; }

    /// <summary>The program and arguments of this server; with daemonize, a command that starts it again and returns.</summary>
    public IReadOnlyList<string> CommandLine(bool daemonize) =>
        [Program, .. Arguments(BaseDirectory, Port, daemonize, _extra)];

    private IReadOnlyList<string> _extra = [];

    private static string[] Arguments(string baseDirectory, int port, bool daemonize, IReadOnlyList<string> extra) =>
    [
        "--bind", "127.0.0.1", "--port", port.ToString(), "--dir", baseDirectory, "--dbfilename", "dump.rdb",
        "--daemonize", daemonize ? "yes" : "no", "--save", "", "--logfile", Path.Combine(baseDirectory, "redis.log"),
        "--pidfile", Path.Combine(baseDirectory, "redis.pid"), "--repl-diskless-sync-delay", "0", .. extra,
    ];

    /// <param name="extraArguments">More server options, e.g. --appendonly yes, --requirepass …</param>
    public static RedisServer Start(string baseDirectory, params string[] extraArguments) =>
        StartProgram(ServerBinaries.Require("redis-server", "redis-server"), baseDirectory, extraArguments);

    /// <param name="program">The server binary: redis-server, or <see cref="NewerServers.Redis8Server"/>, <see cref="NewerServers.ValkeyServer"/>.</param>
    public static RedisServer StartProgram(string program, string baseDirectory, params string[] extraArguments)
    {
        var redis = program;
        Directory.CreateDirectory(baseDirectory);
        var port = FreePort.Next();
        var psi = new ProcessStartInfo(redis) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in Arguments(baseDirectory, port, false, extraArguments))
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(30), () => !process.HasExited, "redis-server");
            var server = new RedisServer(program, baseDirectory, port, process.Id) { _extra = extraArguments };
            var deadline = DateTime.UtcNow.AddSeconds(30);
            string reply;
            while (!(reply = server.Command("INFO persistence")).Contains("loading:0") && !reply.StartsWith("-NOAUTH", StringComparison.Ordinal))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("redis-server kept loading.");
                Thread.Sleep(50);
            }
            return server;
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    /// <summary>Sends one inline command and returns the raw reply (enough for PING, INFO, SET, DBSIZE).</summary>
    public string Command(string inline)
    {
        using var client = new TcpClient("127.0.0.1", Port);
        using var stream = client.GetStream();
        stream.Write(Encoding.ASCII.GetBytes(inline + "\r\n"));
        var buffer = new byte[1 << 16];
        var n = stream.Read(buffer);
        var reply = Encoding.ASCII.GetString(buffer, 0, n);
        if (reply.StartsWith('$') && int.TryParse(reply[1..reply.IndexOf('\r')], out var length))
        {
            var sb = new StringBuilder(reply);
            var header = reply.IndexOf('\n') + 1;
            while (sb.Length < header + length + 2 && (n = stream.Read(buffer)) > 0) sb.Append(Encoding.ASCII.GetString(buffer, 0, n));
            return sb.ToString();
        }
        return reply;
    }

    public void Dispose()
    {
        ChildProcess.Stop(ProcessId, TimeSpan.FromSeconds(10));
        // A server started again from CommandLine(daemonize: true) (a -Replace restore) is known by its pid file only.
        var pidFile = Path.Combine(BaseDirectory, "redis.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && pid != ProcessId)
            ChildProcess.Stop(pid, TimeSpan.FromSeconds(10));
    }
}
