using System.Diagnostics;
using System.Security.Cryptography;

namespace BackupTools.TestServers;

/// <summary>
/// A throwaway mariadbd on a free loopback port under its own directory: binary log on, ROW format, a socket,
/// and a 'backup' user with the privileges mariabackup needs and a random password (given over stdin, never argv).
/// </summary>
public sealed class MariaDbServer : IDisposable
{
    public const string BackupUser = "backup";

    private MariaDbServer(string baseDir, int port, int pid, string password)
    {
        BaseDirectory = baseDir;
        Port = port;
        ProcessId = pid;
        BackupPassword = password;
    }

    public string BaseDirectory { get; }
    public string DataDirectory => Path.Combine(BaseDirectory, "data");
    public string BinlogDirectory => Path.Combine(BaseDirectory, "binlog");
    public string Socket => Path.Combine(BaseDirectory, "mysqld.sock");
    public string ConfigFile => Path.Combine(BaseDirectory, "my.cnf");
    public int Port { get; }
    public int ProcessId { get; }
    public string BackupPassword { get; }

    public static MariaDbServer Start(string baseDirectory)
    {
        var mariadbd = ServerBinaries.Require("mariadbd", "mariadb-server");
        var installDb = ServerBinaries.Require("mariadb-install-db", "mariadb-server");
        var client = ServerBinaries.Require("mariadb", "mariadb-client");
        Directory.CreateDirectory(baseDirectory);
        foreach (var d in new[] { "data", "binlog", "tmp" }) Directory.CreateDirectory(Path.Combine(baseDirectory, d));
        var port = FreePort.Next();
        var cnf = Path.Combine(baseDirectory, "my.cnf");
        File.WriteAllText(cnf, $"""
            [mariadbd]
            user=root
            datadir={baseDirectory}/data
            socket={baseDirectory}/mysqld.sock
            pid-file={baseDirectory}/mysqld.pid
            port={port}
            bind-address=127.0.0.1
            log_bin={baseDirectory}/binlog/mariadb-bin
            binlog_format=ROW
            server_id=1
            log_error={baseDirectory}/error.log
            tmpdir={baseDirectory}/tmp
            innodb_buffer_pool_size=64M
            innodb_log_file_size=48M
            max_allowed_packet=1G
            skip-name-resolve
            [client]
            socket={baseDirectory}/mysqld.sock
            port={port}
            """);
        ChildProcess.Run(installDb, [$"--defaults-file={cnf}", "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"]);
        var psi = new ProcessStartInfo(mariadbd) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add($"--defaults-file={cnf}");
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(60), () => !process.HasExited,
                $"mariadbd (log: {baseDirectory}/error.log)");
            var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
            ChildProcess.Run(client, [$"--defaults-file={cnf}"], stdin: $"""
                CREATE USER '{BackupUser}'@'localhost' IDENTIFIED BY '{password}';
                CREATE USER '{BackupUser}'@'127.0.0.1' IDENTIFIED BY '{password}';
                GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO '{BackupUser}'@'localhost';
                GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO '{BackupUser}'@'127.0.0.1';
                """);
            return new MariaDbServer(baseDirectory, port, process.Id, password);
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    /// <summary>Runs SQL as root over the socket (stdin), returns tab-separated rows.</summary>
    public string Sql(string sql) =>
        ChildProcess.Run(ServerBinaries.Require("mariadb", "mariadb-client"), [$"--defaults-file={ConfigFile}", "--batch", "--skip-column-names"], stdin: sql);

    public void Dispose() => ChildProcess.Stop(ProcessId, TimeSpan.FromSeconds(30));
}
