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

    private MariaDbServer(string baseDir, int port, int pid, string password, string? toolsDirectory)
    {
        ToolsDirectory = toolsDirectory;
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
    /// <summary>Where this server's release's programs are (MariaDB 11.8 from newer-servers.sh), or null for the machine's.</summary>
    public string? ToolsDirectory { get; private set; }
    public int ProcessId { get; private set; }
    public string BackupPassword { get; }

    /// <param name="serverId">The server_id (a replica needs its own).</param>
    /// <param name="extraConfig">More lines for the [mariadbd] group (gtid_strict_mode=ON, log_slave_updates=ON …).</param>
    /// <param name="toolsDirectory">
    /// Run another release's mariadbd (and client) from this directory: the data directory is still made by the
    /// machine's mariadb-install-db, then mariadb-upgrade runs, as a real upgrade from 10.11 would.
    /// </param>
    public static MariaDbServer Start(string baseDirectory, int serverId = 1, string extraConfig = "", string? toolsDirectory = null)
    {
        var installDb = ServerBinaries.Require("mariadb-install-db", "mariadb-server");
        var client = Tool(toolsDirectory, "mariadb", "mariadb-client");
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
            # NOW() in UTC whatever the machine's zone: the tests compare row times with UTC points in time.
            default_time_zone='+00:00'
            server_id={serverId}
            {extraConfig}
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
        var process = Launch(baseDirectory, port, toolsDirectory);
        try
        {
            if (toolsDirectory is not null) Upgrade(cnf, toolsDirectory);
            var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
            // Accounts are made outside the binary log, so a replica of this server does not receive them.
            ChildProcess.Run(client, [$"--defaults-file={cnf}"], stdin: $"""
                SET SESSION sql_log_bin = 0;
                CREATE USER '{BackupUser}'@'localhost' IDENTIFIED BY '{password}';
                CREATE USER '{BackupUser}'@'127.0.0.1' IDENTIFIED BY '{password}';
                GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO '{BackupUser}'@'localhost';
                GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO '{BackupUser}'@'127.0.0.1';
                """);
            return new MariaDbServer(baseDirectory, port, process.Id, password, toolsDirectory);
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    /// <summary>
    /// Starts a server on a data directory a restore made (nothing installed, no binary log), to read what it holds:
    /// the test then compares its rows with the live server's, digest for digest.
    /// </summary>
    public static MariaDbServer StartOn(string dataDirectory, string baseDirectory)
    {
        Directory.CreateDirectory(Path.Combine(baseDirectory, "tmp"));
        var port = FreePort.Next();
        File.WriteAllText(Path.Combine(baseDirectory, "my.cnf"), $"""
            [mariadbd]
            user=root
            datadir={dataDirectory}
            socket={baseDirectory}/mysqld.sock
            pid-file={baseDirectory}/mysqld.pid
            port={port}
            bind-address=127.0.0.1
            default_time_zone='+00:00'
            log_error={baseDirectory}/error.log
            tmpdir={baseDirectory}/tmp
            innodb_buffer_pool_size=64M
            skip-name-resolve
            [client]
            socket={baseDirectory}/mysqld.sock
            port={port}
            """);
        var process = Launch(baseDirectory, port, null);
        return new MariaDbServer(baseDirectory, port, process.Id, "", null);
    }

    private static string Tool(string? toolsDirectory, string program, string package) =>
        toolsDirectory is null ? ServerBinaries.Require(program, package)
        : File.Exists(Path.Combine(toolsDirectory, program)) ? Path.Combine(toolsDirectory, program)
        : throw new ServerBinaryMissingException(Path.Combine(toolsDirectory, program), package);

    private static void Upgrade(string cnf, string toolsDirectory) =>
        ChildProcess.Run(Tool(toolsDirectory, "mariadb-upgrade", "mariadb-client"), [$"--defaults-file={cnf}", "--force"]);

    private static Process Launch(string baseDirectory, int port, string? toolsDirectory)
    {
        var psi = new ProcessStartInfo(Tool(toolsDirectory, "mariadbd", "mariadb-server")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add($"--defaults-file={Path.Combine(baseDirectory, "my.cnf")}");
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(60), () => !process.HasExited, $"mariadbd (log: {baseDirectory}/error.log)");
            return process;
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    /// <summary>Stops the server (as an administrator would before a -Replace restore).</summary>
    public void Stop() => ChildProcess.Stop(ProcessId, TimeSpan.FromSeconds(30));

    /// <summary>SIGKILL: the server dies as it would with its host, nothing flushed or closed.</summary>
    public void Kill()
    {
        try { using var p = Process.GetProcessById(ProcessId); p.Kill(); p.WaitForExit(10_000); }
        catch (ArgumentException) { } // gone already
    }

    /// <summary>Starts the server again on its directory, as it is now (after a -Replace restore, say).</summary>
    public void Restart() => ProcessId = Launch(BaseDirectory, Port, ToolsDirectory).Id;

    /// <summary>Stops the server and starts another release's mariadbd on the same data directory, then mariadb-upgrade: an in-place upgrade.</summary>
    public void UpgradeTo(string toolsDirectory)
    {
        Stop();
        ToolsDirectory = toolsDirectory;
        Restart();
        Upgrade(ConfigFile, toolsDirectory);
    }

    /// <summary>Runs SQL as root over the socket (stdin), returns tab-separated rows.</summary>
    public string Sql(string sql) =>
        ChildProcess.Run(Tool(ToolsDirectory, "mariadb", "mariadb-client"), [$"--defaults-file={ConfigFile}", "--batch", "--skip-column-names"], stdin: sql);

    public void Dispose() => ChildProcess.Stop(ProcessId, TimeSpan.FromSeconds(30));
}
