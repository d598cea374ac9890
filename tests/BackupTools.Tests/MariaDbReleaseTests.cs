using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;
using MySqlConnector;

namespace BackupTools.Tests;

/// <summary>
/// MariaDB 11.8 (the current LTS, from Debian 13 through newer-servers.sh) next to the machine's 10.11: a server made
/// on 10.11 is upgraded in place (mariadb-upgrade), backed up with 11.8's own mariabackup (the incremental after the
/// upgrade becomes a full), its binary logs archived, and restored to exact seconds with 11.8's tools; tools of the
/// other release are refused before anything is touched, for the backup and for the restore.
/// </summary>
public sealed class MariaDbReleaseTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _tools = NewerServers.MariaDb11Tools;
    private MariaDbServer? _db;

    public void Dispose()
    {
        _db?.Dispose();
        _dir.Dispose();
    }

    private TargetPolicy Target(string? toolsDir) => new()
    {
        Name = "main-db", Engine = TargetEngine.MariaDb, Socket = _db!.Socket, User = MariaDbServer.BackupUser, ToolsDir = toolsDir,
        DataDir = _db.DataDirectory,
    };

    private BackupRequest Backup(string? toolsDir) => new() { RepositoryRoot = _dir.Combine("repo"), Target = Target(toolsDir), Password = _db!.BackupPassword };

    private static BackupRecord Ok(BackupAttempt a)
    {
        Assert.True(a.Error is null, a.Error?.ToString());
        return a.Record;
    }

    private string LiveDigest(DateTime stop) => _db!.Sql(
        $"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM r.t WHERE at < '{stop:yyyy-MM-dd HH:mm:ss}'").Trim();

    private async Task WriteRowsAsync(string password, CancellationToken stop)
    {
        await using var c = new MySqlConnection(new MySqlConnectionStringBuilder
        {
            Server = _db!.Socket, ConnectionProtocol = MySqlConnectionProtocol.UnixSocket, UserID = "writer", Password = password, Pooling = false,
        }.ConnectionString);
        await c.OpenAsync();
        var i = 0;
        while (!stop.IsCancellationRequested)
        {
            // Only in the middle of a second: the digest takes `at` (when the INSERT started) for when it committed, and
            // on a loaded machine the two straddled a second boundary (1 run in 3 here, with 11.8) and the digests differed by that row.
            if (DateTime.UtcNow.Millisecond is < 150 or > 800)
            {
                await Task.Delay(20);
                continue;
            }
            await using var cmd = new MySqlCommand("INSERT INTO r.t (v, at) VALUES (@v, NOW(6))", c);
            cmd.Parameters.AddWithValue("@v", $"row {i++} {Guid.NewGuid():N}");
            await cmd.ExecuteNonQueryAsync();
            await Task.Delay(25);
        }
    }

    private async Task<string> RestoredDigestAsync(DateTime t, string? toolsDir)
    {
        var destination = _dir.Combine("restored-" + Guid.NewGuid().ToString("N")[..6]);
        var tools = new MariaDbTools(toolsDir);
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = RestorePlanner.Plan(_dir.Combine("repo"), "main-db", t), Destination = destination, Tools = tools,
            Validation = RestoreValidation.CheckTable,
        }, CancellationToken.None);
        Assert.True(result.Validated, result.Validation);
        await using var server = await TemporaryMariaDb.StartAsync(destination, null, CancellationToken.None, tools);
        await using var c = await server.OpenAsync(CancellationToken.None);
        await using var cmd = new MySqlCommand("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM r.t", c);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        var digest = $"{reader.GetInt64(0)}\t{reader.GetDecimal(1)}";
        await reader.DisposeAsync();
        await server.ShutdownAsync(CancellationToken.None);
        return digest;
    }

    [Fact]
    public async Task A1011ServerUpgradedTo118IsBackedUpAndRestoredToExactSecondsWith118sOwnTools()
    {
        _db = MariaDbServer.Start(_dir.Combine("db"));
        var password = Guid.NewGuid().ToString("N");
        _db.Sql($"""
            CREATE DATABASE r;
            CREATE TABLE r.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at DATETIME(6) NOT NULL) ENGINE=InnoDB;
            CREATE USER 'writer'@'localhost' IDENTIFIED BY '{password}';
            GRANT ALL ON r.* TO 'writer'@'localhost';
            INSERT INTO r.t (v, at) VALUES ('before the upgrade', NOW(6));
            """);
        var old = Ok(await MariaDbBackup.RunAsync(Backup(null), MariaDbCatalog.Full, CancellationToken.None));
        Assert.StartsWith("10.11.", old.ServerVersion);

        // In-place upgrade: the same data directory under 11.8's mariadbd, then mariadb-upgrade.
        _db.UpgradeTo(_tools);
        Assert.StartsWith("11.8.", _db.Sql("SELECT VERSION()").Trim());

        // The machine's 10.11 mariabackup against the 11.8 server: refused before it starts, nothing published.
        var refused = await MariaDbBackup.RunAsync(Backup(null), MariaDbCatalog.Full, CancellationToken.None);
        Assert.IsType<MariaDbReleaseMismatchException>(refused.Error);
        Assert.Contains("must match the server", refused.Error!.Message);
        Assert.Single(BackupCatalog.List(_dir.Combine("repo"), MariaDbCatalog.Engine, "main-db"));

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => WriteRowsAsync(password, stop.Token));
        await Task.Delay(1500);
        // The incremental after an upgrade is taken as a full: an incremental never spans two releases.
        var full = Ok(await MariaDbBackup.RunAsync(Backup(_tools), MariaDbCatalog.Incremental, CancellationToken.None));
        Assert.Equal(MariaDbCatalog.Full, full.Type);
        Assert.StartsWith("11.8.", full.ServerVersion);
        Assert.Contains("11.8.", full.ToolVersion);
        await Task.Delay(1200);
        var inc = Ok(await MariaDbBackup.RunAsync(Backup(_tools), MariaDbCatalog.Incremental, CancellationToken.None));
        Assert.Equal(MariaDbCatalog.Incremental, inc.Type);
        await Task.Delay(1200);
        foreach (var a in await BinlogArchiver.RunAsync(Backup(_tools), CancellationToken.None)) Ok(a);
        await Task.Delay(2200);
        stop.Cancel();
        await writer;
        foreach (var a in await BinlogArchiver.RunAsync(Backup(_tools), CancellationToken.None)) Ok(a);

        // Exact seconds: one between the full and the incremental, one after the incremental (binary logs replayed).
        var t1 = full.EndTime!.Value.AddSeconds(1).AddTicks(-(full.EndTime.Value.Ticks % TimeSpan.TicksPerSecond));
        var t2 = inc.EndTime!.Value.AddSeconds(2).AddTicks(-(inc.EndTime.Value.Ticks % TimeSpan.TicksPerSecond));
        Assert.Equal(LiveDigest(t1).Replace(" ", "\t"), await RestoredDigestAsync(t1, _tools));
        Assert.Equal(LiveDigest(t2).Replace(" ", "\t"), await RestoredDigestAsync(t2, _tools));
        // What Test-DbBackup -Restore does: a random second some backup serves.
        var spans = RestorePlanner.Spans(_dir.Combine("repo"), "main-db", m => MariaDbTools.Release(m.ServerVersion) == "11.8");
        Assert.True(spans[0].From >= full.EndTime!.Value, "a span served by the 10.11 backup would need 10.11's tools");
        // The live table's `at` is when an INSERT started; a restore keeps what committed before T. They differ only
        // for an INSERT that mariabackup's commit block held across a second boundary, so the random second is taken
        // away from the backups' run times (the restore itself is right there too; the digest cannot tell).
        var random = Enumerable.Range(0, 100).Select(seed => RestorePlanner.RandomPoint(spans, new Random(seed)))
            .First(t => new[] { full, inc }.All(b => t < b.StartTime.AddSeconds(-1) || t > b.EndTime!.Value.AddSeconds(1)));
        Assert.Equal(LiveDigest(random).Replace(" ", "\t"), await RestoredDigestAsync(random, _tools));

        // A restore with the other release's tools is refused before anything is made.
        var destination = _dir.Combine("wrong-tools");
        var e = await Assert.ThrowsAsync<MariaDbReleaseMismatchException>(() => PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = RestorePlanner.Plan(_dir.Combine("repo"), "main-db", t2), Destination = destination, Tools = MariaDbTools.FromPath,
        }, CancellationToken.None));
        Assert.Contains("11.8", e.Message);
        Assert.Contains("10.11", e.Message);
        Assert.False(Directory.Exists(destination));
        Assert.Empty(Directory.GetDirectories(_dir.Path, ".wrong-tools*"));
        // And the 10.11 backup with 11.8's tools, the same.
        await Assert.ThrowsAsync<MariaDbReleaseMismatchException>(() => PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = RestorePlanner.Plan(_dir.Combine("repo"), "main-db", old.EndTime!.Value.AddSeconds(1)), Destination = destination, Tools = new MariaDbTools(_tools),
        }, CancellationToken.None));
        Assert.False(Directory.Exists(destination));
    }
}
