using BackupTools.Engine.Repository;
using System.Diagnostics;
using System.Security.Cryptography;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// A mariadbd started on a restored data directory for replay and validation: no TCP (socket in a private 0700
/// directory), no binary log, max_allowed_packet 1G (a large ROW transaction is one huge statement), gtid_strict_mode
/// on, no file access for the replayed statements (secure_file_priv on an empty directory, no FILE privilege). It logs in with a throwaway account created by an init file (the restored grant tables may hold any login)
/// and dropped again before shutdown, so the restored data keeps its own accounts only.
/// </summary>
public sealed class TemporaryMariaDb : IAsyncDisposable
{
    public const string Account = "backuptools_restore";

    private readonly Process _process;
    private readonly PrivateTempDirectory _private;
    private readonly string _password;

    private TemporaryMariaDb(Process process, PrivateTempDirectory privateDirectory, string password, string clientOptionsFile)
    {
        _process = process;
        _private = privateDirectory;
        _password = password;
        ClientOptionsFile = clientOptionsFile;
    }

    public string Socket => Path.Combine(_private.Path, "mysqld.sock");
    /// <summary>A 0600 option file with the throwaway login, for the mariadb client.</summary>
    public string ClientOptionsFile { get; }
    private string ErrorLog => Path.Combine(_private.Path, "error.log");

    public static async Task<TemporaryMariaDb> StartAsync(string dataDirectory, Action<string>? log, CancellationToken cancellationToken,
        MariaDbTools? tools = null)
    {
        var priv = PrivateTempDirectory.Create();
        try
        {
            var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            // Replay runs whatever the binary logs say as this account, as root's mariadbd: without FILE and with
            // secure_file_priv on an empty private directory, a STATEMENT-format LOAD_FILE('/etc/shadow') or
            // SELECT … INTO OUTFILE in a log can neither read nor write a file outside the restore.
            var initFile = priv.WriteSecretFile("init.sql",
                $"CREATE OR REPLACE USER '{Account}'@'localhost' IDENTIFIED BY '{password}';\n" +
                $"GRANT ALL PRIVILEGES ON *.* TO '{Account}'@'localhost' WITH GRANT OPTION;\n" +
                $"REVOKE FILE ON *.* FROM '{Account}'@'localhost';\n");
            var files = Path.Combine(priv.Path, "files");
            FileModes.CreatePrivateDirectory(files);
            var user = Environment.UserName;
            var config = priv.WriteSecretFile("my.cnf", $"""
                [mariadbd]
                user={user}
                datadir={dataDirectory}
                socket={priv.Path}/mysqld.sock
                pid-file={priv.Path}/mysqld.pid
                log-error={priv.Path}/error.log
                tmpdir={priv.Path}
                skip-networking
                skip-log-bin
                skip-slave-start
                gtid_strict_mode=1
                max_allowed_packet=1G
                secure_file_priv={files}
                init-file={initFile}

                """);
            var client = priv.WriteSecretFile("client.cnf",
                $"[client]\nuser={Account}\npassword={password}\nsocket={priv.Path}/mysqld.sock\n");
            log?.Invoke($"Starting a temporary mariadbd on {dataDirectory} (socket only, no binary log)");
            var process = ProcessRunner.StartService(new ProcessSpec((tools ?? MariaDbTools.FromPath).Program("mariadbd"), [$"--defaults-file={config}"]));
            var server = new TemporaryMariaDb(process, priv, password, client);
            try
            {
                await server.WaitReadyAsync(cancellationToken);
                return server;
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
        catch
        {
            priv.Dispose();
            throw;
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
                throw new InvalidOperationException($"The temporary mariadbd exited with code {_process.ExitCode} while starting. Its log:{Environment.NewLine}{ErrorLogTail()}");
            if (File.Exists(Socket))
            {
                try
                {
                    await using var c = await OpenAsync(cancellationToken);
                    return;
                }
                catch (MySqlException) { }
            }
            // Crash recovery of a large prepared backup is done by prepare; a start should take seconds, not hours.
            if (clock.Elapsed > TimeSpan.FromMinutes(10))
                throw new TimeoutException($"The temporary mariadbd did not accept connections within 10 minutes. Its log:{Environment.NewLine}{ErrorLogTail()}");
            await Task.Delay(100, cancellationToken);
        }
    }

    public async Task<MySqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = MariaDbConnections.Create(
            new TargetPolicy { Name = "restore", Engine = TargetEngine.MariaDb, Socket = Socket, User = Account }, _password, TimeSpan.FromSeconds(30));
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Drops the throwaway account and shuts the server down cleanly (InnoDB flushed, nothing left to recover).</summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        await using (var c = await OpenAsync(cancellationToken))
        {
            await using (var drop = new MySqlCommand($"DROP USER IF EXISTS '{Account}'@'localhost'", c))
                await drop.ExecuteNonQueryAsync(cancellationToken);
            await using var shutdown = new MySqlCommand("SHUTDOWN", c);
            try { await shutdown.ExecuteNonQueryAsync(cancellationToken); }
            catch (MySqlException) { /* the connection may drop as the server goes down */ }
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(10));
        await _process.WaitForExitAsync(deadline.Token);
        if (_process.ExitCode != 0)
            throw new InvalidOperationException($"The temporary mariadbd exited with code {_process.ExitCode} on shutdown. Its log:{Environment.NewLine}{ErrorLogTail()}");
    }

    public string ErrorLogTail()
    {
        try { return string.Join(Environment.NewLine, File.ReadLines(ErrorLog).TakeLast(20)); }
        catch (IOException) { return "(no log)"; }
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            ProcessRunner.Kill(_process);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _private.Dispose();
    }
}
