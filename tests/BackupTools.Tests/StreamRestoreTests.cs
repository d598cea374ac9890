using System.Diagnostics;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;
using MySqlConnector;
using Xunit.Abstractions;

namespace BackupTools.Tests;

[CollectionDefinition(Name)]
public sealed class BinlogStreamCollection
{
    /// <summary>Stream tests one at a time: they find their own mariadb-binlog among the machine's processes.</summary>
    public const string Name = "binlog-stream";
}

/// <summary>
/// The host is lost and the stream is all that is left: a writer commits a numbered row every 100 ms (recording when
/// each commit returned), mariadbd is SIGKILLed and its data and binary log directories deleted, and the restore to
/// the latest point from the full backup and the stream must hold exactly rows 1..K with every row committed more than
/// a second before the kill among them. The same across the stream's connection killed (its own, or mariadb-binlog
/// with <c>client: mariadb-binlog</c>), a server restart, FLUSH BINARY LOGS every two seconds and a network cut (a
/// forwarder in front of the server's port dropping every connection).
/// </summary>
[Collection(BinlogStreamCollection.Name)]
public sealed class StreamRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Commit(int Id, DateTime At);

    [Theory]
    [InlineData("none")]
    [InlineData("stream-killed")]
    [InlineData("tool-killed")]
    [InlineData("server-restart")]
    [InlineData("flush")]
    [InlineData("network-cut")]
    public async Task TheLatestRestoreAfterTheHostIsLostHoldsEveryCommitOlderThanASecondAndNothingTwice(string variant)
    {
        using var server = MariaDbServer.Start(_dir.Combine("db"));
        using var proxy = new LoopbackProxy(server.Port);
        var password = Guid.NewGuid().ToString("N");
        server.Sql($"""
            GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1';
            CREATE DATABASE s; CREATE TABLE s.w (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL) ENGINE=InnoDB;
            CREATE USER 'writer'@'localhost' IDENTIFIED BY '{password}'; GRANT ALL ON s.* TO 'writer'@'localhost';
            """);
        var repo = _dir.Combine("repo");
        var target = new TargetPolicy
        {
            Name = "lost-" + variant, Engine = TargetEngine.MariaDb, Host = "127.0.0.1", Port = proxy.Port, User = MariaDbServer.BackupUser,
            StreamWithMariaDbBinlog = variant == "tool-killed", // the other variants run the module's own replica connection
        };
        var request = new BackupRequest { RepositoryRoot = repo, Target = target, Password = server.BackupPassword, Compression = CompressionOptions.None };
        var full = await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None);
        Assert.True(full.Error is null, full.Error?.ToString());

        var log = new List<string>();
        using var stopStream = new CancellationTokenSource();
        var directory = BinlogStream.DirectoryFor(repo, target.Name);
        var stream = Task.Run(() => BinlogStream.RunAsync(request with { Log = l => { lock (log) log.Add(l); } }, _ => { }, stopStream.Token));
        var commits = new List<Commit>();
        using var stopWriter = new CancellationTokenSource();
        Task? writer = null;
        try
        {
            await BinlogStreamTests.Until(() => BinlogStreamState.Read(directory) is not null, "the stream running");
            writer = Task.Run(() => WriteAsync(server.Socket, password, commits, stopWriter.Token));
            var flusher = variant == "flush" ? Task.Run(() => FlushEveryTwoSecondsAsync(server, stopWriter.Token)) : Task.CompletedTask;
            await Task.Delay(2500);
            switch (variant)
            {
                case "stream-killed":
                    // The own connection's server end killed amid the writer's transactions: the stream reconnects.
                    Assert.Empty(OurTools(directory));
                    Assert.Equal(1, BinlogStreamTests.KillReplicaConnections(server));
                    break;
                case "tool-killed":
                    var tools = OurTools(directory).ToList();
                    Assert.NotEmpty(tools);
                    foreach (var pid in tools) Process.GetProcessById(pid).Kill();
                    break;
                case "server-restart":
                    server.Stop();
                    server.Restart();
                    break;
                case "network-cut":
                    await proxy.CutAsync(TimeSpan.FromSeconds(3));
                    break;
            }
            await Task.Delay(variant == "none" || variant == "flush" ? 3000 : 8000);
            var killedAt = DateTime.UtcNow;
            server.Kill();
            stopWriter.Cancel();
            await writer;
            await flusher;
            // The host is gone: its data and its binary logs.
            Directory.Delete(server.DataDirectory, recursive: true);
            Directory.Delete(server.BinlogDirectory, recursive: true);

            var planned = RestorePlanner.Plan(repo, target.Name, DateTime.UtcNow, latest: true);
            Assert.True(planned.Plan.Latest);
            Assert.True(planned.Plan.StreamedBinlogs >= 1, "the plan reads the stream's growing file");
            var destination = _dir.Combine("restored");
            var result = await PointInTimeRestore.RunAsync(new RestoreRequest { Planned = planned, Destination = destination, Log = l => { lock (log) log.Add(l); } }, CancellationToken.None);
            Assert.True(result.Validated);

            var rows = await RowsAsync(destination);
            List<Commit> acked;
            lock (commits) acked = commits.ToList();
            Assert.NotEmpty(rows);
            // Exactly 1..K, each once with its own value: nothing skipped, nothing twice (a retried commit whose first try
            // landed is recorded once: the retry met its duplicate key).
            Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (i, $"row {i}")), rows);
            var k = rows.Count;
            var old = acked.Where(c => c.At < killedAt.AddSeconds(-1)).ToList();
            Assert.True(old.Count > 20, $"the writer committed only {old.Count} rows a second before the kill");
            Assert.True(old.All(c => c.Id <= k), $"restored 1..{k}; lost rows committed more than a second before the kill: " +
                                                  string.Join(", ", old.Where(c => c.Id > k).Select(c => $"{c.Id} at -{(killedAt - c.At).TotalMilliseconds:0} ms")));
            Assert.True(k <= acked.Max(c => c.Id) + 1, $"restored {k} rows, more than were written");
            var lost = acked.Where(c => c.Id > k).ToList();
            output.WriteLine($"{variant}: {acked.Count} commits, restored {k}, lost {lost.Count}" +
                             (lost.Count > 0 ? $", oldest lost committed {(killedAt - lost.Min(c => c.At)).TotalMilliseconds:0} ms before the kill" : ""));
            Assert.Equal(planned.Plan.Binlogs[^1].BinlogFile, result.ReachedBinlogFile);
        }
        finally
        {
            stopWriter.Cancel();
            if (writer is not null) await writer;
            stopStream.Cancel();
            await stream;
            lock (log) foreach (var l in log) output.WriteLine(l);
        }
    }

    /// <summary>Numbered rows, one commit every 100 ms, through connection losses (a commit whose answer was lost and whose retry meets its own row counts once).</summary>
    private static async Task WriteAsync(string socket, string password, List<Commit> commits, CancellationToken stop)
    {
        var builder = new MySqlConnectionStringBuilder
        {
            Server = socket, ConnectionProtocol = MySqlConnectionProtocol.UnixSocket, UserID = "writer", Password = password, Pooling = false, ConnectionTimeout = 2,
        };
        MySqlConnection? c = null;
        var id = 1;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (c is null) { c = new MySqlConnection(builder.ConnectionString); await c.OpenAsync(stop); }
                await using var insert = new MySqlCommand($"INSERT INTO s.w VALUES ({id}, 'row {id}')", c);
                try { await insert.ExecuteNonQueryAsync(stop); }
                catch (MySqlException e) when (e.ErrorCode == MySqlErrorCode.DuplicateKeyEntry) { } // the earlier try committed
                lock (commits) commits.Add(new Commit(id, DateTime.UtcNow));
                id++;
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException) { break; }
            catch (Exception e) when (e is MySqlException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
                if (c is not null) await c.DisposeAsync();
                c = null;
                try { await Task.Delay(100, stop); } catch (OperationCanceledException) { break; }
            }
        }
        if (c is not null) await c.DisposeAsync();
    }

    private static async Task FlushEveryTwoSecondsAsync(MariaDbServer server, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(2000, stop); } catch (OperationCanceledException) { return; }
            try { server.Sql("FLUSH BINARY LOGS;"); } catch (Exception) when (stop.IsCancellationRequested) { return; }
        }
    }

    private static async Task<List<(int, string)>> RowsAsync(string dataDirectory)
    {
        await using var db = await TemporaryMariaDb.StartAsync(dataDirectory, null, CancellationToken.None);
        await using var c = await db.OpenAsync(CancellationToken.None);
        await using var q = new MySqlCommand("SELECT id, v FROM s.w ORDER BY id", c);
        await using var r = await q.ExecuteReaderAsync();
        var rows = new List<(int, string)>();
        while (await r.ReadAsync()) rows.Add((r.GetInt32(0), r.GetString(1)));
        return rows;
    }

    /// <summary>This test's mariadb-binlog: the one writing into its stream directory.</summary>
    private static IEnumerable<int> OurTools(string streamDirectory)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            if (cmdline.Contains($"--result-file={streamDirectory}/")) yield return pid;
        }
    }
}
