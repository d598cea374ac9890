using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;
using BackupTools.TestServers;
using MySqlConnector;

namespace BackupTools.Tests;

/// <summary>
/// Binary-log timelines against real mariadbd servers of each test's own (RESET MASTER, a failover and -Replace must
/// never touch the shared fixture): the files written after the switch are archived on a new timeline, restores on
/// both sides of it land on the exact second (table digests equal to the live table's rows before that second), and
/// a time only a gap could reach fails before anything is touched.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BinlogTimelineTests
{
    private const string Table = "tl.t";

    private static TargetPolicy Target(MariaDbServer server, string name = "db") => new()
    {
        Name = name, Engine = TargetEngine.MariaDb, Socket = server.Socket, User = MariaDbServer.BackupUser, DataDir = server.DataDirectory,
    };

    private static BackupRequest Request(string repo, MariaDbServer server) => new()
    {
        RepositoryRoot = repo, Target = Target(server), Password = server.BackupPassword,
    };

    private static BackupRecord Ok(BackupAttempt a)
    {
        Assert.True(a.Error is null, a.Error?.ToString());
        return a.Record;
    }

    private static async Task<IReadOnlyList<BackupRecord>> ArchiveAsync(string repo, MariaDbServer server) =>
        (await BinlogArchiver.RunAsync(Request(repo, server), CancellationToken.None)).Select(Ok).ToList();

    private static void CreateTable(MariaDbServer server) => server.Sql(
        $"CREATE DATABASE IF NOT EXISTS tl; CREATE TABLE IF NOT EXISTS {Table} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at DATETIME(6) NOT NULL) ENGINE=InnoDB;");

    /// <summary>A few rows, each stamped with its statement's start (the second its binlog event carries).</summary>
    private static void Write(MariaDbServer server, string tag, int rows = 3) =>
        server.Sql(string.Concat(Enumerable.Range(0, rows).Select(i => $"INSERT INTO {Table} (v, at) VALUES ('{tag}-{i}-{Guid.NewGuid():N}', NOW(6));")));

    /// <summary>Waits into the next whole second and returns it: rows written before have at &lt; it, rows after at &gt;= it.</summary>
    private static async Task<DateTime> NextSecondAsync()
    {
        var now = DateTime.UtcNow;
        var next = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc).AddSeconds(1);
        await Task.Delay(next - now + TimeSpan.FromMilliseconds(80));
        return next;
    }

    private static string Digest(MariaDbServer server, DateTime before) => server.Sql(
        $"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM {Table} WHERE at < '{before:yyyy-MM-dd HH:mm:ss}'").Trim();

    /// <summary>Plans and restores to <paramref name="t"/> into a new directory; returns the plan and the restored table's digest.</summary>
    private static async Task<(RestorePlan Plan, string Digest)> RestoreAsync(string repo, string target, DateTime t, TempDirectory dir)
    {
        var planned = RestorePlanner.Plan(repo, target, t);
        var destination = dir.Combine("restored-" + Guid.NewGuid().ToString("N")[..6]);
        await PointInTimeRestore.RunAsync(new RestoreRequest { Planned = planned, Destination = destination }, CancellationToken.None);
        string digest;
        await using (var server = await TemporaryMariaDb.StartAsync(destination, null, CancellationToken.None))
        await using (var c = await server.OpenAsync(CancellationToken.None))
        await using (var q = new MySqlCommand($"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM {Table}", c))
        await using (var r = await q.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            digest = $"{r.GetValue(0)}\t{r.GetValue(1)}";
        }
        Directory.Delete(destination, recursive: true);
        return (planned.Plan, digest);
    }

    private static void AssertOneTimeline(RestorePlan plan, int timeline)
    {
        Assert.Equal(timeline, plan.Timeline);
        Assert.All(plan.Binlogs, b => Assert.Equal(timeline, b.Timeline));
    }

    [Fact]
    public async Task ResetMasterStartsANewTimelineThatIsArchivedAndRestoresOnBothSides()
    {
        using var dir = new TempDirectory();
        using var db = MariaDbServer.Start(dir.Combine("db"));
        var repo = dir.Combine("repo");
        CreateTable(db);
        var full = Ok(await MariaDbBackup.RunAsync(Request(repo, db), MariaDbCatalog.Full, CancellationToken.None));
        Assert.Equal(1, full.Timeline);
        Write(db, "a1");
        var t1 = await NextSecondAsync();
        Write(db, "a2");
        var old = await ArchiveAsync(repo, db);
        Write(db, "a3");
        var t2 = await NextSecondAsync();
        Write(db, "a4");
        old = [.. old, .. await ArchiveAsync(repo, db)];
        Assert.All(old, b => Assert.Equal(1, b.Timeline));
        Assert.Contains(old, b => b.BinlogFile == "mariadb-bin.000002");

        db.Sql("RESET MASTER");
        Write(db, "b1");
        var tb = await NextSecondAsync();
        Write(db, "b2");
        var fresh = await ArchiveAsync(repo, db);
        // The bug this guards against: "No closed binary log needed archiving", because .000001 was known by name.
        Assert.Contains(fresh, b => b.BinlogFile == "mariadb-bin.000001");
        Assert.All(fresh, b => Assert.Equal(2, b.Timeline));

        // Status: a Warning naming the switch; times after it fail before anything is touched, naming timeline 2.
        var status = BinlogTimelineStatus.Of(BinlogHistory.Load(repo, "db"), "db")!;
        Assert.Equal(2, status.Timeline);
        Assert.Contains("timeline 2", status.Warning);
        Assert.Contains("Start-DbBackup -Target db -Type Full", status.Warning);
        var refused = Assert.Throws<RestoreChainException>(() => RestorePlanner.Plan(repo, "db", tb));
        Assert.Contains("timeline 2", refused.Message);
        Assert.Contains("never splices", refused.Message);

        // The scheduled incremental becomes a full on the new timeline, which restores the window.
        var newFull = Ok(await MariaDbBackup.RunAsync(Request(repo, db), MariaDbCatalog.Incremental, CancellationToken.None));
        Assert.Equal(MariaDbCatalog.Full, newFull.Type);
        Assert.Equal(2, newFull.Timeline);
        Assert.Null(BinlogTimelineStatus.Of(BinlogHistory.Load(repo, "db"), "db")!.Warning);
        Write(db, "c1");
        var t3 = await NextSecondAsync();
        Write(db, "c2");
        await ArchiveAsync(repo, db);

        // Test-DbBackup -Restore picks its random point inside these: never between the switch and the new full.
        var spans = RestorePlanner.Spans(repo, "db");
        Assert.Equal([1, 2], spans.Select(x => x.Timeline));
        Assert.DoesNotContain(spans, x => x.From <= tb && tb <= x.To);
        Assert.All(Enumerable.Range(0, 50).Select(i => RestorePlanner.RandomPoint(spans, new Random(i))), p => Assert.Contains(spans, x => x.From <= p && p <= x.To));

        foreach (var (t, timeline) in new[] { (t1, 1), (t2, 1), (t3, 2) })
        {
            var (plan, digest) = await RestoreAsync(repo, "db", t, dir);
            AssertOneTimeline(plan, timeline);
            Assert.Equal(Digest(db, t), digest);
        }
    }

    [Fact]
    public async Task AFailoverToAReplicaWithTheSameBasenameIsANewTimeline()
    {
        using var dir = new TempDirectory();
        var primary = MariaDbServer.Start(dir.Combine("primary"), serverId: 1);
        using var replica = MariaDbServer.Start(dir.Combine("replica"), serverId: 2, extraConfig: "log_slave_updates=ON");
        var repo = dir.Combine("repo");
        DateTime t1;
        try
        {
            var replPassword = Guid.NewGuid().ToString("N");
            primary.Sql($"SET SESSION sql_log_bin = 0; CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '{replPassword}'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';");
            replica.Sql($"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.Port}, MASTER_USER='repl', MASTER_PASSWORD='{replPassword}', MASTER_USE_GTID=slave_pos; START SLAVE;");
            CreateTable(primary);
            Ok(await MariaDbBackup.RunAsync(Request(repo, primary), MariaDbCatalog.Full, CancellationToken.None));
            Write(primary, "a1");
            t1 = await NextSecondAsync();
            Write(primary, "a2");
            Assert.All(await ArchiveAsync(repo, primary), b => Assert.Equal(1, b.Timeline));
            var position = primary.Sql("SELECT @@gtid_binlog_pos").Trim();
            Assert.Equal("0", replica.Sql($"SELECT MASTER_GTID_WAIT('{position}', 30)").Trim());
        }
        finally { primary.Dispose(); }

        // Failover: the primary is gone, the replica is promoted and the target now reaches it.
        replica.Sql("STOP SLAVE; RESET SLAVE ALL;");
        Write(replica, "b1");
        var promoted = await ArchiveAsync(repo, replica);
        Assert.NotEmpty(promoted);
        Assert.All(promoted, b => Assert.Equal(2, b.Timeline));
        Assert.Contains(promoted, b => b.BinlogFile == "mariadb-bin.000001"); // same basename and name as the primary's first file
        var full = Ok(await MariaDbBackup.RunAsync(Request(repo, replica), MariaDbCatalog.Incremental, CancellationToken.None));
        Assert.Equal(MariaDbCatalog.Full, full.Type); // another server: its data is not the chain's
        Write(replica, "c1");
        var t2 = await NextSecondAsync();
        Write(replica, "c2");
        await ArchiveAsync(repo, replica);

        foreach (var (t, timeline) in new[] { (t1, 1), (t2, 2) })
        {
            var (plan, digest) = await RestoreAsync(repo, "db", t, dir);
            AssertOneTimeline(plan, timeline);
            Assert.Equal(Digest(replica, t), digest);
        }
    }

    [Fact]
    public async Task AfterOurOwnReplaceTheServersNewLogsStartATimelineAndTheNextIncrementalIsAFull()
    {
        using var dir = new TempDirectory();
        using var db = MariaDbServer.Start(dir.Combine("db"));
        var repo = dir.Combine("repo");
        CreateTable(db);
        Ok(await MariaDbBackup.RunAsync(Request(repo, db), MariaDbCatalog.Full, CancellationToken.None));
        Write(db, "a1");
        var t1 = await NextSecondAsync();
        Write(db, "a2");
        await ArchiveAsync(repo, db);
        Write(db, "a3");
        var t2 = await NextSecondAsync();
        Write(db, "a4");
        await ArchiveAsync(repo, db);
        // Digests at commit time: the -Replace below undoes a2..a4 on the live server.
        var expected1 = Digest(db, t1);
        var expected2 = Digest(db, t2);
        var liveRows = db.Sql($"SELECT COUNT(*) FROM {Table}").Trim();
        db.Stop();

        // Somebody starts the server while the restore runs: the swap is refused, the live data untouched, the restore kept.
        var destination = dir.Combine("restored");
        var planned = RestorePlanner.Plan(repo, "db", t1);
        var refused = await Assert.ThrowsAsync<RestoreReplaceException>(() => PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = destination, Replace = true, Target = Target(db), Password = db.BackupPassword,
            StepStarted = step => { if (step == "swap into the data directory") db.Restart(); },
        }, CancellationToken.None));
        Assert.Contains("still runs", refused.Message);
        Assert.Contains(destination, refused.Message);
        Assert.True(Directory.Exists(Path.Combine(destination, "tl")), "the finished restore is kept for another try");
        Assert.Equal(liveRows, db.Sql($"SELECT COUNT(*) FROM {Table}").Trim());
        Assert.Empty(Directory.GetDirectories(dir.Path, "*.before-restore-*", SearchOption.AllDirectories));
        Assert.Empty(ReplaceMarkers.Times(repo, "db"));
        db.Stop();
        Directory.Delete(destination, recursive: true);

        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = RestorePlanner.Plan(repo, "db", t1), Destination = destination, Replace = true, Target = Target(db), Password = db.BackupPassword,
        }, CancellationToken.None);
        Assert.NotNull(result.PreviousDataDirectory);
        Assert.Single(ReplaceMarkers.Times(repo, "db"));
        Assert.False(File.Exists(Path.Combine(ReplaceMarkers.Path(repo, "db"), "swap-intent.json")));
        Assert.Empty(Directory.GetFiles(db.DataDirectory, ".backuptools-swap-*"));
        db.Restart();
        Assert.Equal(expected1, Digest(db, DateTime.UtcNow.AddDays(1)));

        Write(db, "b1");
        var tb = await NextSecondAsync();
        Write(db, "b2");
        var after = await ArchiveAsync(repo, db);
        Assert.Contains(after, b => b.Timeline == 2);
        // Files the restarted server created are on timeline 2; the one the old server stopped writing stays on timeline 1.
        var replacedAt = ReplaceMarkers.Times(repo, "db")[0];
        Assert.All(after, b => Assert.Equal(b.FirstEventTime >= replacedAt.AddSeconds(-1) ? 2 : 1, b.Timeline));
        Assert.Contains("timeline 2", Assert.Throws<RestoreChainException>(() => RestorePlanner.Plan(repo, "db", tb)).Message);
        var full = Ok(await MariaDbBackup.RunAsync(Request(repo, db), MariaDbCatalog.Incremental, CancellationToken.None));
        Assert.Equal(MariaDbCatalog.Full, full.Type); // the chain head's pages are not this data directory's
        Assert.Equal(2, full.Timeline);
        Write(db, "c1");
        var t3 = await NextSecondAsync();
        Write(db, "c2");
        await ArchiveAsync(repo, db);

        foreach (var (t, timeline, digest) in new[] { (t1, 1, expected1), (t2, 1, expected2), (t3, 2, Digest(db, t3)) })
        {
            var (plan, restored) = await RestoreAsync(repo, "db", t, dir);
            AssertOneTimeline(plan, timeline);
            Assert.Equal(digest, restored);
        }
    }
}
