using BackupTools.Engine.MariaDb;
using BackupTools.Model;
using BackupTools.TestServers;
using MySqlConnector;

namespace BackupTools.Tests;

/// <summary>
/// What a point-in-time restore must withstand: a source with gtid_strict_mode=ON (replay still lands on the exact
/// second), a STATEMENT-format LOAD_FILE in the binary log (replay, run by root's mariadbd, must not read a root-only
/// file into the restored table), and a crash in the middle of the -Replace swap (finished or undone on the next run).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class RestoreHardeningTests
{
    [Fact]
    public async Task AStrictGtidSourceRestoresToTheSecondAndALoadFileEventRestoresNull()
    {
        using var dir = new TempDirectory();
        using var db = MariaDbServer.Start(dir.Combine("db"), extraConfig: "gtid_strict_mode=ON");
        Assert.Equal("1", db.Sql("SELECT @@gtid_strict_mode").Trim());
        // Root-only by its directory (0700): LOAD_FILE reads only world-readable files (S_IROTH), so a 0600 file
        // would prove nothing; a world-readable file inside /root or a 0700 directory is what a replay could leak.
        var secretDir = dir.Combine("root-only");
        Directory.CreateDirectory(secretDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var secret = Path.Combine(secretDir, "secret");
        File.WriteAllText(secret, "the secret " + Guid.NewGuid().ToString("N"));
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var repo = dir.Combine("repo");
        var request = new BackupRequest
        {
            RepositoryRoot = repo, Password = db.BackupPassword,
            Target = new TargetPolicy { Name = "strict", Engine = TargetEngine.MariaDb, Socket = db.Socket, User = MariaDbServer.BackupUser },
        };
        db.Sql("CREATE DATABASE s; CREATE TABLE s.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at DATETIME(6) NOT NULL) ENGINE=InnoDB;" +
               "CREATE TABLE s.leak (id INT PRIMARY KEY, content LONGTEXT) ENGINE=InnoDB;");
        Assert.Null((await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None)).Error);
        for (var i = 0; i < 5; i++) db.Sql($"INSERT INTO s.t (v, at) VALUES ('before-{i}', NOW(6));");
        // A statement-format event whose replay would read a file: the live server (no secure_file_priv) did read it.
        db.Sql($"SET SESSION binlog_format = 'STATEMENT'; INSERT INTO s.leak VALUES (1, LOAD_FILE('{secret}'));");
        Assert.StartsWith("the secret", db.Sql("SELECT content FROM s.leak").Trim());
        var now = DateTime.UtcNow;
        var t = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc).AddSeconds(1);
        await Task.Delay(t - now + TimeSpan.FromMilliseconds(80));
        for (var i = 0; i < 5; i++) db.Sql($"INSERT INTO s.t (v, at) VALUES ('after-{i}', NOW(6));");
        foreach (var a in await BinlogArchiver.RunAsync(request, CancellationToken.None)) Assert.Null(a.Error);
        var expected = db.Sql($"SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, v, at))) FROM s.t WHERE at < '{t:yyyy-MM-dd HH:mm:ss}'").Trim();

        var destination = dir.Combine("restored");
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest { Planned = RestorePlanner.Plan(repo, "strict", t), Destination = destination }, CancellationToken.None);
        Assert.Matches(@"^0-1-\d+$", result.ReachedGtid);
        await using var server = await TemporaryMariaDb.StartAsync(destination, null, CancellationToken.None);
        await using var c = await server.OpenAsync(CancellationToken.None);
        await using (var q = new MySqlCommand("SELECT CONCAT(COUNT(*), '\t', SUM(CRC32(CONCAT_WS('|', id, v, at)))) FROM s.t", c))
            Assert.Equal(expected, (string)(await q.ExecuteScalarAsync())!);
        await using (var q = new MySqlCommand("SELECT COUNT(*), MAX(content IS NULL) FROM s.leak", c))
        await using (var r = await q.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            Assert.Equal(1L, r.GetInt64(0)); // the event was replayed …
            Assert.Equal(1L, Convert.ToInt64(r.GetValue(1))); // … and read nothing
        }
    }

    private static (string Repo, string Live, string Restored) SwapFixture(TempDirectory dir)
    {
        var live = dir.Combine("data");
        var restored = dir.Combine("restored");
        Directory.CreateDirectory(live);
        Directory.CreateDirectory(restored);
        File.WriteAllText(Path.Combine(live, "which"), "old");
        File.WriteAllText(Path.Combine(restored, "which"), "new");
        return (dir.Combine("repo"), live, restored);
    }

    private sealed class SimulatedCrash : Exception;

    private static void SwapCrashingAt(string point, string repo, string live, string restored)
    {
        DataDirectorySwap.CrashPoint = p => { if (p == point) throw new SimulatedCrash(); };
        try
        {
            Assert.Throws<SimulatedCrash>(() => DataDirectorySwap.Swap(repo, "db", restored, live, DateTime.UtcNow, DateTime.UtcNow.AddHours(-1), "0-1-9", null));
        }
        finally { DataDirectorySwap.CrashPoint = null; }
    }

    [Fact]
    public void ACrashAfterTheExchangeIsFinishedOnTheNextRun()
    {
        using var dir = new TempDirectory();
        var (repo, live, restored) = SwapFixture(dir);
        SwapCrashingAt("exchanged", repo, live, restored);
        // The crash left the exchange done: the live path already holds the restored data, the old data is at the restored path.
        Assert.Equal("new", File.ReadAllText(Path.Combine(live, "which")));
        Assert.Empty(ReplaceMarkers.Times(repo, "db"));

        var done = DataDirectorySwap.RecoverInterrupted(repo, "db", null);
        Assert.Contains("Finished", done);
        Assert.Equal("new", File.ReadAllText(Path.Combine(live, "which")));
        var kept = Assert.Single(Directory.GetDirectories(dir.Path, "data.before-restore-*"));
        Assert.Equal("old", File.ReadAllText(Path.Combine(kept, "which")));
        Assert.False(Directory.Exists(restored));
        Assert.Single(ReplaceMarkers.Times(repo, "db"));
        Assert.Equal(["which"], Directory.GetFiles(live).Select(Path.GetFileName)); // the swap marker is gone
        Assert.Null(DataDirectorySwap.RecoverInterrupted(repo, "db", null)); // nothing left to do
    }

    [Fact]
    public void ACrashBeforeTheExchangeLeavesTheLiveDirectoryAndIsUndone()
    {
        using var dir = new TempDirectory();
        var (repo, live, restored) = SwapFixture(dir);
        SwapCrashingAt("intent-written", repo, live, restored);
        var done = DataDirectorySwap.RecoverInterrupted(repo, "db", null);
        Assert.Contains("before it began", done);
        Assert.Equal("old", File.ReadAllText(Path.Combine(live, "which")));
        Assert.Equal(["which"], Directory.GetFiles(restored).Select(Path.GetFileName));
        Assert.Empty(Directory.GetDirectories(dir.Path, "data.before-restore-*"));
        Assert.Empty(ReplaceMarkers.Times(repo, "db"));
        Assert.Null(DataDirectorySwap.RecoverInterrupted(repo, "db", null));
    }

    [Fact]
    public void TheSwapExchangesAtomicallyAndKeepsTheOldDirectory()
    {
        using var dir = new TempDirectory();
        var (repo, live, restored) = SwapFixture(dir);
        var kept = DataDirectorySwap.Swap(repo, "db", restored, live, DateTime.UtcNow, DateTime.UtcNow.AddHours(-1), null, null);
        Assert.Equal("new", File.ReadAllText(Path.Combine(live, "which")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(kept, "which")));
        Assert.False(Directory.Exists(restored));
        Assert.Single(ReplaceMarkers.Times(repo, "db"));
    }

    [Fact]
    public void WhenTheOldDirectoryCannotTakeItsKeptNameTheSwapStillSucceedsAndSaysWhereItIs()
    {
        using var dir = new TempDirectory();
        var (repo, live, restored) = SwapFixture(dir);
        var now = new DateTime(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);
        Directory.CreateDirectory(live + ".before-restore-20261129T120000Z"); // the kept name is taken
        var log = new List<string>();
        var kept = DataDirectorySwap.Swap(repo, "db", restored, live, now, now.AddHours(-1), null, log.Add);
        Assert.Equal(restored, kept); // the old data stayed at the restored path, and the caller is told so
        Assert.Equal("old", File.ReadAllText(Path.Combine(kept, "which")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(live, "which")));
        Assert.Contains(log, l => l.Contains("stays at"));
        Assert.Single(ReplaceMarkers.Times(repo, "db"));
    }

    [Fact]
    public void ASymlinkedDataDirectoryIsRefused()
    {
        using var dir = new TempDirectory();
        var (repo, live, restored) = SwapFixture(dir);
        var link = dir.Combine("link");
        Directory.CreateSymbolicLink(link, live);
        var e = Assert.Throws<RestoreReplaceException>(() => DataDirectorySwap.Swap(repo, "db", restored, link, DateTime.UtcNow, DateTime.UtcNow, null, null));
        Assert.Contains("is a symlink", e.Message);
        Assert.Equal("old", File.ReadAllText(Path.Combine(live, "which")));
        Assert.True(Directory.Exists(restored));
    }

    [Fact]
    public async Task AFullBackupOfAWipedServerIsAFailureUnlessTheTargetAllowsEmpty()
    {
        using var dir = new TempDirectory();
        using var db = MariaDbServer.Start(dir.Combine("db"));
        // A least-privilege login, without SELECT: information_schema would show it no table at all.
        db.Sql("SET SESSION sql_log_bin = 0; CREATE USER 'lp'@'localhost' IDENTIFIED BY 'lp-pw'; " +
               "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'lp'@'localhost';");
        var request = new BackupRequest
        {
            RepositoryRoot = dir.Combine("repo"), Password = "lp-pw",
            Target = new TargetPolicy { Name = "wiped", Engine = TargetEngine.MariaDb, Socket = db.Socket, User = "lp" },
        };
        db.Sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY) ENGINE=InnoDB;");
        var first = await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None);
        Assert.Null(first.Error);
        Assert.Equal("1", BackupTools.Engine.Repository.BackupCatalog.List(request.RepositoryRoot).Single().Manifest.EngineFields["userTables"]);
        db.Sql("DROP DATABASE app;");
        var wiped = await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None);
        Assert.Equal(BackupOutcome.Failed, wiped.Record.Status);
        Assert.Contains("no user tables", Assert.IsType<BackupTools.Engine.Repository.EmptyBackupException>(wiped.Error).Message);
        Assert.Null((await MariaDbBackup.RunAsync(request with { Target = request.Target with { AllowEmpty = true } }, MariaDbCatalog.Full, CancellationToken.None)).Error);
    }
}
