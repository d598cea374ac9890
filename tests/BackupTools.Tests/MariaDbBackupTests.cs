using System.Diagnostics;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Full, incremental and binlog backups against the fixture's real mariadbd.</summary>
[Collection(ServerCollection.Name)]
public sealed class MariaDbBackupTests(ServerFixture fixture)
{
    private static readonly object BulkLock = new();
    private static bool s_bulkLoaded;
    private readonly MariaDbServer _db = fixture.Servers.MariaDb;
    private readonly List<string> _log = [];

    private TargetPolicy Target() => new()
    {
        Name = "main-db", Engine = TargetEngine.MariaDb, Socket = _db.Socket, User = MariaDbServer.BackupUser, DataDir = _db.DataDirectory,
    };

    private BackupRequest Request(TempDirectory dir, string? password = null, bool verify = false, TargetPolicy? target = null) => new()
    {
        RepositoryRoot = dir.Combine("repo"), Target = target ?? Target(), Password = password ?? _db.BackupPassword,
        Verify = verify, Log = line => { lock (_log) _log.Add(line); },
    };

    /// <summary>
    /// The mariabackup processes backing up this class's server: their options file names its socket. Other test classes
    /// back up servers of their own alongside, and killing or waiting for theirs made those tests fail at random.
    /// </summary>
    private List<int> OurMariabackups() => ChildrenNamed("mariabackup", commandLine =>
        commandLine.Split('\0').FirstOrDefault(a => a.StartsWith("--defaults-file=", StringComparison.Ordinal)) is { } option
        && File.Exists(option["--defaults-file=".Length..]) && File.ReadAllText(option["--defaults-file=".Length..]).Contains(_db.Socket!, StringComparison.Ordinal));

    /// <summary>About 48 MB of incompressible rows, so a backup lasts long enough to be killed mid-stream.</summary>
    private void EnsureBulkData()
    {
        lock (BulkLock)
        {
            if (s_bulkLoaded) return;
            _db.Sql("""
                CREATE DATABASE IF NOT EXISTS bulk;
                CREATE TABLE IF NOT EXISTS bulk.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARBINARY(1024)) ENGINE=InnoDB;
                SET SESSION max_recursive_iterations = 100000;
                INSERT INTO bulk.t (v) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 49152) SELECT RANDOM_BYTES(1024) FROM s;
                """);
            s_bulkLoaded = true;
        }
    }

    private static BackupRecord Succeeded(BackupAttempt attempt)
    {
        Assert.True(attempt.Error is null, attempt.Error?.ToString());
        Assert.Equal(BackupOutcome.Succeeded, attempt.Record.Status);
        return attempt.Record;
    }

    [Fact]
    public async Task FullThenIncrementalsFormAChainThatPrepares()
    {
        using var dir = new TempDirectory();
        _db.Sql("CREATE DATABASE IF NOT EXISTS chain; CREATE TABLE IF NOT EXISTS chain.t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB; INSERT INTO chain.t VALUES (1, 'before full');");
        var full = Succeeded(await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None));
        var inc1 = Succeeded(await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Incremental, CancellationToken.None));
        _db.Sql("INSERT INTO chain.t VALUES (2, 'after first incremental'); FLUSH TABLES;");
        var inc2 = Succeeded(await MariaDbBackup.RunAsync(Request(dir, verify: true), MariaDbCatalog.Incremental, CancellationToken.None));

        Assert.Null(full.ParentId);
        Assert.Equal(full.Id, inc1.ParentId);
        Assert.Equal(inc1.Id, inc2.ParentId);
        Assert.Equal(full.ToLsn, inc1.FromLsn);
        Assert.Equal(inc1.ToLsn, inc2.FromLsn);
        Assert.Matches(@"^mariadb-bin\.\d{6}$", full.BinlogFile);
        Assert.True(full.BinlogPosition > 4);
        Assert.Matches(@"^\d+-\d+-\d+$", full.Gtid);
        Assert.StartsWith("10.", full.ToolVersion);
        Assert.Contains("MariaDB", full.ServerVersion);
        Assert.Matches(@"/mariadb/main-db/full/\d{8}T\d{6}Z-[0-9a-f]{8}$", full.Path);
        Assert.Contains(_log, l => l.Contains("Prepared the chain of 3 backup(s)"));

        var manifest = BackupCatalog.List(dir.Combine("repo"), "mariadb", "main-db", "incremental").First(e => e.Manifest.Id == inc2.Id).Manifest;
        Assert.Equal(full.Id, manifest.EngineFields[EngineFieldNames.ChainRoot]);
        Assert.Contains(manifest.Files, f => f.Name == "xtrabackup_checkpoints");
        Assert.Contains(manifest.Files, f => f.Name == "backup.mbstream.zst" && f.Compression == "zstd" && f.StoredBytes < f.RawBytes);
        Assert.Empty(Directory.GetDirectories(dir.Combine("repo"), "*.partial", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetDirectories(dir.Combine("repo", ScratchDirectory.DirectoryName)));
    }

    [Fact]
    public async Task UncompressedBackupStoresTheRawStream()
    {
        using var dir = new TempDirectory();
        var record = Succeeded(await MariaDbBackup.RunAsync(Request(dir) with { Compression = CompressionOptions.None }, MariaDbCatalog.Full, CancellationToken.None));
        var stream = Path.Combine(record.Path!, "backup.mbstream");
        Assert.True(File.Exists(stream));
        Assert.Equal(new FileInfo(stream).Length, record.RawBytes - new DirectoryInfo(record.Path!).GetFiles("xtrabackup_*").Sum(f => f.Length));
    }

    [Fact]
    public async Task IncrementalWithoutAFullIsAClearErrorAndLeavesNothing()
    {
        using var dir = new TempDirectory();
        var attempt = await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Incremental, CancellationToken.None);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        var e = Assert.IsType<NoFullBackupException>(attempt.Error);
        Assert.Contains("Start-DbBackup -Target main-db -Type Full", e.Message);
        Assert.Empty(BackupCatalog.List(dir.Combine("repo")));
        Assert.Empty(Directory.GetDirectories(dir.Combine("repo"), "*.partial", SearchOption.AllDirectories));
        Assert.Equal("Failed", Assert.Single(RunJournal.Read(dir.Combine("repo"))).Status);
    }

    [Fact]
    public async Task WrongPasswordFailsClearlyWithNoPartialSet()
    {
        using var dir = new TempDirectory();
        var attempt = await MariaDbBackup.RunAsync(Request(dir, password: "not-the-password"), MariaDbCatalog.Full, CancellationToken.None);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        var e = Assert.IsType<MariaBackupFailedException>(attempt.Error);
        Assert.Contains("refused the login", e.Message);
        Assert.Contains("Access denied", e.Message);
        Assert.DoesNotContain("not-the-password", e.Message);
        Assert.Null(attempt.Record.Path);
        Assert.Empty(BackupCatalog.List(dir.Combine("repo")));
        Assert.Empty(Directory.GetDirectories(dir.Combine("repo"), "*.partial", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task PasswordWithOptionFileMetacharactersLogsIn()
    {
        using var dir = new TempDirectory();
        const string password = "p#a\"ss\\w'rd x;=[y]";
        var sqlLiteral = password.Replace("\\", "\\\\").Replace("'", "\\'");
        _db.Sql($"""
            CREATE USER IF NOT EXISTS 'odd'@'localhost' IDENTIFIED BY '{sqlLiteral}';
            GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO 'odd'@'localhost';
            """);
        var target = Target() with { User = "odd" };
        Succeeded(await MariaDbBackup.RunAsync(Request(dir, password: password, target: target), MariaDbCatalog.Full, CancellationToken.None));
    }

    [Fact]
    public async Task ServerConfigFileIsIncludedButItsUserDoesNotBecomeTheLogin()
    {
        // The fixture's my.cnf has user=root in [mariadbd]; mariabackup would log in as root unless our
        // [mariabackup] group, written after the !include, sets the login.
        Assert.Contains("user=root", File.ReadAllText(_db.ConfigFile));
        using var dir = new TempDirectory();
        var record = Succeeded(await MariaDbBackup.RunAsync(Request(dir, target: Target() with { ConfigFile = _db.ConfigFile }), MariaDbCatalog.Full, CancellationToken.None));
        Assert.Contains(_log, l => l.Contains("user: backup"));
        Assert.NotNull(record.BinlogFile);
    }

    [Fact]
    public async Task MissingConfigFileIsNamedInTheError()
    {
        using var dir = new TempDirectory();
        var attempt = await MariaDbBackup.RunAsync(Request(dir, target: Target() with { ConfigFile = "/nonexistent/my.cnf" }), MariaDbCatalog.Full, CancellationToken.None);
        Assert.Contains("configFile '/nonexistent/my.cnf' does not exist", attempt.Error!.Message);
    }

    [Fact]
    public void LsnFilesAreReadUnderTheNewerMariadbBackupNamesToo()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("mariadb_backup_checkpoints"), "backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 44404\nlast_lsn = 48109\n");
        File.WriteAllText(dir.Combine("mariadb_backup_info"), "tool_version = 11.4.2-MariaDB\nbinlog_pos = filename 'bin.000007', position '1241', GTID of the last change '0-1-5'\n");
        var info = MariaBackupInfo.Read(dir.Path);
        Assert.Equal(("0", "44404", "bin.000007", 1241L, "0-1-5", "11.4.2-MariaDB"), (info.FromLsn, info.ToLsn, info.BinlogFile, info.BinlogPosition, info.Gtid, info.ToolVersion));
        Assert.Equal(2, MariaBackupInfo.LsnFiles(dir.Path).Count());
    }

    [Fact]
    public void OptionFileQuotingSurvivesEveryMetacharacter() =>
        Assert.Equal("\"a\\\\b\\\"c#d\\ne\"", MariaBackupOptionsFile.Quote("a\\b\"c#d\ne"));

    [Fact]
    public async Task AConcurrentRunFailsNamingTheHolder()
    {
        EnsureBulkData();
        using var dir = new TempDirectory();
        var first = MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None);
        var lockFile = dir.Combine("repo", TargetLock.DirectoryName, "mariadb-main-db.lock");
        await ProcessRunnerTests.WaitUntil(() => File.Exists(lockFile));
        var second = await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Incremental, CancellationToken.None);
        Assert.False(first.IsCompleted, "the first backup ended before the second started; the test proves nothing");
        var e = Assert.IsType<TargetLockedException>(second.Error);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);
        Assert.Contains(Environment.MachineName, e.Message);
        Succeeded(await first);
    }

    [Fact]
    public async Task SigkillOfMariabackupMidStreamPublishesNothingAndTheNextRunWorks()
    {
        EnsureBulkData();
        using var dir = new TempDirectory();
        var run = MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None);
        var partialStream = () => Directory.Exists(dir.Combine("repo", "mariadb", "main-db", "full"))
            ? Directory.GetFiles(dir.Combine("repo", "mariadb", "main-db", "full"), "backup.mbstream*", SearchOption.AllDirectories).FirstOrDefault(f => new FileInfo(f).Length > 0)
            : null;
        await ProcessRunnerTests.WaitUntil(() => partialStream() is not null);
        var mariabackup = OurMariabackups();
        Assert.NotEmpty(mariabackup);
        foreach (var pid in mariabackup) Process.GetProcessById(pid).Kill();
        var attempt = await run;
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.Empty(BackupCatalog.List(dir.Combine("repo")));
        Assert.Empty(Directory.GetDirectories(dir.Combine("repo"), "*.partial", SearchOption.AllDirectories));
        Succeeded(await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None));
    }

    [Fact]
    public async Task CancellationStopsMariabackupPromptly()
    {
        EnsureBulkData();
        using var dir = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        var run = MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, cancel.Token);
        await ProcessRunnerTests.WaitUntil(() => OurMariabackups().Count > 0);
        var pids = OurMariabackups();
        Assert.NotEmpty(pids);
        var clock = Stopwatch.StartNew();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"cancel took {clock.Elapsed}");
        await ProcessRunnerTests.WaitUntil(() => !pids.Any(ProcessRunnerTests.Alive), 3000);
        Assert.DoesNotContain(pids, ProcessRunnerTests.Alive);
        Assert.Empty(BackupCatalog.List(dir.Combine("repo")));
        Assert.Equal("Cancelled", Assert.Single(RunJournal.Read(dir.Combine("repo"))).Status);
    }

    [Fact]
    public async Task NoProcessSeesThePasswordAndTheRepositoryIsPrivate()
    {
        EnsureBulkData();
        using var dir = new TempDirectory();
        var run = MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None);
        var scans = 0;
        var sawMariabackup = false;
        while (!run.IsCompleted)
        {
            sawMariabackup |= OurMariabackups().Count > 0;
            foreach (var proc in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
            foreach (var file in new[] { "cmdline", "environ" })
            {
                string text;
                try { text = File.ReadAllText(Path.Combine(proc, file)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                Assert.False(text.Contains(_db.BackupPassword), $"{proc}/{file} holds the password");
            }
            scans++;
        }
        Assert.True(sawMariabackup, "mariabackup never ran while scanning");
        var record = Succeeded(await run);
        Assert.True(scans > 1);
        Assert.DoesNotContain(_log, l => l.Contains(_db.BackupPassword));
        Assert.DoesNotContain(_db.BackupPassword, File.ReadAllText(Directory.GetFiles(dir.Combine("repo", "_journal"), "*.jsonl").Single()));
        Assert.DoesNotContain(_db.BackupPassword, File.ReadAllText(Path.Combine(record.Path!, "xtrabackup_info")));

        foreach (var d in Directory.GetDirectories(dir.Combine("repo"), "*", SearchOption.AllDirectories).Append(dir.Combine("repo")))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(d));
        foreach (var f in Directory.GetFiles(dir.Combine("repo"), "*", SearchOption.AllDirectories))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f));
    }

    /// <summary>
    /// Live descendants of this test process with the given program name; with <paramref name="commandLine"/>, only those
    /// whose command line (its arguments joined by NULs) it accepts.
    /// </summary>
    internal static List<int> ChildrenNamed(string name, Func<string, bool>? commandLine = null)
    {
        var result = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var comm = stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')];
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (comm == name && fields[0] != "Z" && IsDescendant(int.Parse(fields[1]))
                    && (commandLine is null || commandLine(File.ReadAllText(Path.Combine(dir, "cmdline")))))
                    result.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        }
        return result;
    }

    private static bool IsDescendant(int parent)
    {
        for (var p = parent; p > 1; )
        {
            if (p == Environment.ProcessId) return true;
            var stat = File.ReadAllText($"/proc/{p}/stat");
            p = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        return false;
    }
}
