using System.Diagnostics;
using System.Globalization;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;
using MySqlConnector;

namespace BackupTools.Tests;

/// <summary>
/// Point-in-time restores against a real workload: one writer inserts rows continuously (each row carries NOW(6), the
/// statement's start time, which is also its binlog event's timestamp) while a full, two incrementals and several
/// binlog archives are taken. A restore to T must hold exactly the rows with at &lt; T truncated to the second: the
/// digest of the restored table is compared with the live table's digest over those rows.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class PointInTimeRestoreTests(ServerFixture fixture)
{
    private static readonly SemaphoreSlim WorkloadLock = new(1, 1);
    private static Workload? s_workload;
    private readonly MariaDbServer _db = fixture.Servers.MariaDb;

    private sealed record Workload(string Repository, BackupRecord Full, BackupRecord Inc1, BackupRecord Inc2, IReadOnlyList<BackupRecord> Binlogs, string WriterPassword);

    private TargetPolicy Target(string? dataDir = null) => new()
    {
        Name = "main-db", Engine = TargetEngine.MariaDb, Socket = _db.Socket, User = MariaDbServer.BackupUser, DataDir = dataDir,
    };

    private BackupRequest Backup(string repo) => new() { RepositoryRoot = repo, Target = Target(), Password = _db.BackupPassword };

    private static BackupRecord Ok(BackupAttempt a)
    {
        Assert.True(a.Error is null, a.Error?.ToString());
        return a.Record;
    }

    private async Task<Workload> GetWorkloadAsync()
    {
        await WorkloadLock.WaitAsync();
        try
        {
            return s_workload ??= await RunWorkloadAsync();
        }
        finally { WorkloadLock.Release(); }
    }

    private async Task<Workload> RunWorkloadAsync()
    {
        var repo = Path.Combine(Path.GetTempPath(), "bt-pitr-" + Guid.NewGuid().ToString("N")[..8]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(repo, true); } catch (IOException) { } };
        var password = Guid.NewGuid().ToString("N");
        _db.Sql($"""
            CREATE DATABASE IF NOT EXISTS pitr;
            CREATE TABLE IF NOT EXISTS pitr.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at DATETIME(6) NOT NULL) ENGINE=InnoDB;
            CREATE USER IF NOT EXISTS 'writer'@'localhost' IDENTIFIED BY '{password}';
            GRANT ALL ON pitr.* TO 'writer'@'localhost';
            """);
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => WriteRowsAsync(password, stop.Token));
        await Task.Delay(1500);
        var full = Ok(await MariaDbBackup.RunAsync(Backup(repo), MariaDbCatalog.Full, CancellationToken.None));
        await Task.Delay(1200);
        var inc1 = Ok(await MariaDbBackup.RunAsync(Backup(repo), MariaDbCatalog.Incremental, CancellationToken.None));
        await Task.Delay(1000);
        var binlogs = new List<BackupRecord>((await BinlogArchiver.RunAsync(Backup(repo), CancellationToken.None)).Select(Ok));
        await Task.Delay(1200);
        var inc2 = Ok(await MariaDbBackup.RunAsync(Backup(repo), MariaDbCatalog.Incremental, CancellationToken.None));
        await Task.Delay(1200);
        binlogs.AddRange((await BinlogArchiver.RunAsync(Backup(repo), CancellationToken.None)).Select(Ok));
        await Task.Delay(2500);
        binlogs.AddRange((await BinlogArchiver.RunAsync(Backup(repo), CancellationToken.None)).Select(Ok));
        await Task.Delay(1200);
        stop.Cancel();
        await writer;
        binlogs.AddRange((await BinlogArchiver.RunAsync(Backup(repo), CancellationToken.None)).Select(Ok));
        return new Workload(repo, full, inc1, inc2, binlogs, password);
    }

    private async Task WriteRowsAsync(string password, CancellationToken stop)
    {
        await using var c = await OpenWriterAsync(password);
        var i = 0;
        while (!stop.IsCancellationRequested)
        {
            await using var cmd = new MySqlCommand("INSERT INTO pitr.t (v, at) VALUES (@v, NOW(6))", c);
            cmd.Parameters.AddWithValue("@v", $"row {i++} {Guid.NewGuid():N}");
            await cmd.ExecuteNonQueryAsync();
            await Task.Delay(25);
        }
    }

    private async Task<MySqlConnection> OpenWriterAsync(string password, string? socket = null)
    {
        var c = new MySqlConnection(new MySqlConnectionStringBuilder
        {
            Server = socket ?? _db.Socket, ConnectionProtocol = MySqlConnectionProtocol.UnixSocket, UserID = "writer", Password = password, Pooling = false,
        }.ConnectionString);
        await c.OpenAsync();
        return c;
    }

    /// <summary>Row count and an order-independent digest of the live table's rows from before <paramref name="stop"/>.</summary>
    private string LiveDigest(DateTime stop) => _db.Sql(
        $"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM pitr.t WHERE at < '{stop:yyyy-MM-dd HH:mm:ss}'").Trim();

    private async Task<(RestoreResult Result, string Digest, PlannedRestore Planned)> RestoreAsync(Workload w, DateTime t)
    {
        var planned = RestorePlanner.Plan(w.Repository, "main-db", t);
        using var dir = new TempDirectory();
        var destination = dir.Combine("restored");
        var log = new List<string>();
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = destination, Validation = RestoreValidation.CheckTable,
            ValidationQuery = "SELECT COUNT(*) >= 0 FROM pitr.t", Log = l => { lock (log) log.Add(l); },
        }, CancellationToken.None);
        // Read the restored table on a server of our own: the restore shut its temporary one down.
        await using var server = await TemporaryMariaDb.StartAsync(destination, null, CancellationToken.None);
        await using var c = await server.OpenAsync(CancellationToken.None);
        await using var q = new MySqlCommand("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, v, at))), 0) FROM pitr.t", c);
        await using var r = await q.ExecuteReaderAsync();
        await r.ReadAsync();
        var digest = $"{r.GetValue(0)}\t{r.GetValue(1)}";
        Assert.DoesNotContain(_db.BackupPassword, string.Join("\n", log));
        return (result, digest, planned);
    }

    private static DateTime Second(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);

    [Fact]
    public async Task RestoreBetweenTheFullAndTheFirstIncrementalUsesTheFullAndBinlogs()
    {
        var w = await GetWorkloadAsync();
        var t = w.Full.EndTime!.Value.AddMilliseconds(600);
        Assert.True(t < w.Inc1.EndTime, "the workload left no room between the full and the first incremental");
        var (result, digest, planned) = await RestoreAsync(w, t);
        Assert.Empty(planned.Plan.Incrementals);
        Assert.Equal(w.Full.BinlogFile, planned.Plan.StartBinlogFile);
        Assert.Equal(w.Full.BinlogPosition, planned.Plan.StartBinlogPosition);
        Assert.Equal(LiveDigest(Second(t)), digest);
        Assert.True(result.Validated);
        Assert.Contains(result.Tables, x => x.Table == "pitr.t" && x.Rows > 0);
    }

    [Fact]
    public async Task RestoreAfterTheLastIncrementalAppliesBothIncrementals()
    {
        var w = await GetWorkloadAsync();
        var t = w.Inc2.EndTime!.Value.AddMilliseconds(1300);
        var (result, digest, planned) = await RestoreAsync(w, t);
        Assert.Equal([w.Inc1.Id, w.Inc2.Id], planned.Plan.Incrementals.Select(i => i.Id));
        Assert.Equal(w.Inc2.BinlogPosition, planned.Plan.StartBinlogPosition);
        Assert.Equal(LiveDigest(Second(t)), digest);
        Assert.Equal(PointInTimeRestore.StepNames.Length - 1, result.Steps.Count);
    }

    [Fact]
    public async Task RestoreInsideALaterBinlogFileReplaysAcrossFiles()
    {
        var w = await GetWorkloadAsync();
        var last = w.Binlogs.Where(b => b.LastEventTime > b.FirstEventTime.GetValueOrDefault().AddSeconds(1)).Last();
        var t = last.FirstEventTime!.Value + (last.LastEventTime!.Value - last.FirstEventTime.Value) / 2;
        var (result, digest, planned) = await RestoreAsync(w, t);
        Assert.True(planned.Plan.Binlogs.Count >= 2, "the restore should replay across several files");
        Assert.Equal(last.BinlogFile, planned.Plan.Binlogs[^1].BinlogFile);
        Assert.Equal(LiveDigest(Second(t)), digest);
        Assert.Equal(last.BinlogFile, result.ReachedBinlogFile);
        Assert.Matches(@"^0-1-\d+$", result.ReachedGtid);
    }

    [Fact]
    public async Task RestoreAtTheSecondOfACommitExcludesItAndOneSecondLaterIncludesIt()
    {
        var w = await GetWorkloadAsync();
        var mid = w.Inc2.EndTime!.Value.AddSeconds(1.5);
        var row = _db.Sql($"SELECT id, at FROM pitr.t WHERE at >= '{mid:yyyy-MM-dd HH:mm:ss.ffffff}' ORDER BY id LIMIT 1").Trim().Split('\t');
        var commit = DateTime.SpecifyKind(DateTime.Parse(row[1], CultureInfo.InvariantCulture), DateTimeKind.Utc);
        var atCommit = Second(commit);
        var (_, before, _) = await RestoreAsync(w, atCommit);
        var (_, after, _) = await RestoreAsync(w, atCommit.AddSeconds(1));
        Assert.Equal(LiveDigest(atCommit), before);
        Assert.Equal(LiveDigest(atCommit.AddSeconds(1)), after);
        Assert.NotEqual(before, after);
        Assert.True(int.Parse(after.Split('\t')[0]) > int.Parse(before.Split('\t')[0]));
    }

    [Fact]
    public async Task TimesOutsideTheWindowFailStatingTheWindow()
    {
        var w = await GetWorkloadAsync();
        var early = Assert.Throws<RestoreWindowException>(() => RestorePlanner.Plan(w.Repository, "main-db", w.Full.StartTime.AddMinutes(-5)));
        Assert.Matches(@"can be restored between \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ and \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", early.Message);
        var late = Assert.Throws<RestoreWindowException>(() => RestorePlanner.Plan(w.Repository, "main-db", DateTime.UtcNow.AddHours(1)));
        Assert.Contains("after the newest archived binary log", late.Message);
        var (from, to) = RestorePlanner.Window(w.Repository, "main-db");
        Assert.Equal(w.Full.EndTime, from);
        Assert.Equal(w.Binlogs[^1].LastEventTime, to);
    }

    [Fact]
    public async Task ADamagedOrRemovedBinlogFailsBeforeAnythingIsWritten()
    {
        var w = await GetWorkloadAsync();
        using var dir = new TempDirectory();
        var copy = dir.Combine("repo");
        CopyDirectory(w.Repository, copy);
        var t = w.Inc2.EndTime!.Value.AddMilliseconds(1300);
        var planned = RestorePlanner.Plan(copy, "main-db", t);
        var victim = planned.Binlogs[0];

        // A flipped byte: found while reading, before the data is used; the destination is removed again.
        var file = Path.Combine(victim.Path, victim.Manifest.Files[0].Name);
        var bytes = File.ReadAllBytes(file);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(file, bytes);
        var destination = dir.Combine("restored");
        var e = await Assert.ThrowsAsync<RestoreStepException>(() => PointInTimeRestore.RunAsync(new RestoreRequest { Planned = planned, Destination = destination }, CancellationToken.None));
        Assert.Equal("extract the binary logs", e.Step);
        Assert.False(Directory.Exists(destination));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".restored.backuptools-*"));
        await Assert.ThrowsAsync<RestoreChainException>(() => RestorePlanner.VerifyChecksumsAsync(planned, null, CancellationToken.None));

        // The whole set removed: the plan itself fails, naming the missing file.
        Directory.Delete(victim.Path, recursive: true);
        var gap = Assert.Throws<RestoreChainException>(() => RestorePlanner.Plan(copy, "main-db", t));
        Assert.Contains(victim.Manifest.EngineFields[EngineFieldNames.BinlogFile], gap.Message);
    }

    [Fact]
    public async Task CancellingMidRestoreStopsTheServerAndLeavesNothing()
    {
        var w = await GetWorkloadAsync();
        using var dir = new TempDirectory();
        var destination = dir.Combine("restored");
        using var cancel = new CancellationTokenSource();
        var planned = RestorePlanner.Plan(w.Repository, "main-db", w.Inc2.EndTime!.Value.AddSeconds(1));
        var serversBefore = MariaDbBackupTests.ChildrenNamed("mariadbd");
        var temporary = new List<int>();
        var restore = PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = destination,
            StepStarted = step =>
            {
                if (step != "replay the binary logs") return;
                // Only this restore's server: its options name a data directory in this test's directory (other tests
                // running alongside start servers of their own, which are not this one's to count).
                temporary.AddRange(MariaDbBackupTests.ChildrenNamed("mariadbd").Except(serversBefore).Where(pid => ServesUnder(pid, dir.Path)));
                cancel.Cancel();
            },
        }, cancel.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        Assert.False(Directory.Exists(destination));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".restored.backuptools-*"));
        Assert.Single(temporary); // the temporary server was running when the restore was cancelled
        await ProcessRunnerTests.WaitUntil(() => !temporary.Any(ProcessRunnerTests.Alive), 5000);
        Assert.DoesNotContain(temporary, ProcessRunnerTests.Alive);
    }

    /// <summary>Whether a mariadbd's command line, or the options file it names, mentions <paramref name="directory"/>.</summary>
    private static bool ServesUnder(int pid, string directory)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return args.Any(a => a.Contains(directory, StringComparison.Ordinal))
                || args.Where(a => a.StartsWith("--defaults-file=", StringComparison.Ordinal))
                       .Any(a => File.ReadAllText(a["--defaults-file=".Length..]).Contains(directory, StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; } // gone meanwhile
    }

    [Fact]
    public async Task ABrokenIncrementalChainIsSkippedWithAWarning()
    {
        var w = await GetWorkloadAsync();
        using var dir = new TempDirectory();
        var copy = dir.Combine("repo");
        CopyDirectory(w.Repository, copy);
        Directory.Delete(Directory.GetDirectories(Path.Combine(copy, "mariadb", "main-db", "incremental")).Single(d => d.EndsWith(w.Inc1.Id)), recursive: true);
        var planned = RestorePlanner.Plan(copy, "main-db", w.Inc2.EndTime!.Value.AddSeconds(1));
        Assert.Empty(planned.Plan.Incrementals);
        Assert.Contains(planned.Plan.Warnings, x => x.Contains(w.Inc2.Id) && x.Contains("chain is broken"));
    }

    [Fact]
    public async Task ReplaceRefusesWhileTheServerRunsAndTouchesNothing()
    {
        var w = await GetWorkloadAsync();
        using var dir = new TempDirectory();
        var destination = dir.Combine("restored");
        var planned = RestorePlanner.Plan(w.Repository, "main-db", w.Inc2.EndTime!.Value.AddSeconds(1));
        var e = await Assert.ThrowsAsync<RestoreReplaceException>(() => PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = destination, Replace = true, Target = Target(_db.DataDirectory), Password = _db.BackupPassword,
        }, CancellationToken.None));
        Assert.Contains("still runs", e.Message);
        Assert.False(Directory.Exists(destination));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(_db.DataDirectory)!, "*.before-restore-*"));
    }

    [Fact]
    public async Task ReplaceSwapsIntoAStoppedServersDataDirectoryKeepingTheOldOne()
    {
        using var dir = new TempDirectory();
        var server = MariaDbServer.Start(dir.Combine("db"));
        var target = new TargetPolicy { Name = "other", Engine = TargetEngine.MariaDb, Socket = server.Socket, User = MariaDbServer.BackupUser, DataDir = server.DataDirectory };
        var request = new BackupRequest { RepositoryRoot = dir.Combine("repo"), Target = target, Password = server.BackupPassword };
        server.Sql("CREATE DATABASE kept; CREATE TABLE kept.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO kept.t VALUES (1), (2), (3);");
        Ok(await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None));
        await Task.Delay(1100);
        var t = DateTime.UtcNow;
        await Task.Delay(1100);
        server.Sql("DROP DATABASE kept;"); // the mistake
        (await BinlogArchiver.RunAsync(request, CancellationToken.None)).Select(Ok).ToList();
        server.Dispose(); // stopped, as -Replace requires

        // Read from a copy of the repository, as a restore from offsite reads its scratch: the swap records itself at home.
        var scratch = dir.Combine("scratch");
        CopyDirectory(request.RepositoryRoot, scratch);
        var planned = RestorePlanner.Plan(scratch, "other", t);
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = dir.Combine("restored"), Replace = true, Target = target, Password = server.BackupPassword,
            StateRoot = request.RepositoryRoot,
        }, CancellationToken.None);
        Assert.Single(ReplaceMarkers.Times(request.RepositoryRoot, "other")); // the new timeline is known where the next backups go
        Assert.Empty(ReplaceMarkers.Times(scratch, "other"));
        Assert.Equal(server.DataDirectory, result.Destination);
        Assert.NotNull(result.PreviousDataDirectory);
        Assert.Matches(@"\.before-restore-\d{8}T\d{6}Z$", result.PreviousDataDirectory);
        Assert.True(Directory.Exists(Path.Combine(result.PreviousDataDirectory!, "mysql")), "the old data directory was not kept");
        Assert.False(Directory.Exists(Path.Combine(result.PreviousDataDirectory!, "kept")), "the old directory is the one after the mistake");
        Assert.True(Directory.Exists(Path.Combine(server.DataDirectory, "kept")), "the restored data directory has the dropped database back");
        Assert.Contains(result.Tables, x => x.Table == "kept.t" && x.Rows == 3);
        Assert.False(Directory.Exists(dir.Combine("restored")));
    }

    [Fact]
    public async Task ASixtyMegabyteTransactionReplays()
    {
        using var dir = new TempDirectory();
        var repo = dir.Combine("repo");
        _db.Sql("CREATE DATABASE IF NOT EXISTS big; CREATE TABLE IF NOT EXISTS big.t (id INT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB; DELETE FROM big.t;");
        Ok(await MariaDbBackup.RunAsync(Backup(repo), MariaDbCatalog.Full, CancellationToken.None));
        _db.Sql("USE big; INSERT INTO big.t SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_1;" +
                "UPDATE big.t SET v = REPEAT(RANDOM_BYTES(1024), 61440) WHERE id = 1;"); // one row of 60 MB in one transaction
        await Task.Delay(1100);
        var t = DateTime.UtcNow;
        await Task.Delay(1100);
        var archived = (await BinlogArchiver.RunAsync(Backup(repo), CancellationToken.None)).Select(Ok).ToList();
        Assert.Contains(archived, b => b.RawBytes > 60L << 20);
        var expected = _db.Sql("SELECT COUNT(*), SUM(LENGTH(v)), MD5(GROUP_CONCAT(MD5(v))) FROM big.t").Trim();

        var planned = RestorePlanner.Plan(repo, "main-db", t);
        var destination = dir.Combine("restored");
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest { Planned = planned, Destination = destination, Validation = RestoreValidation.RowCount }, CancellationToken.None);
        Assert.Contains(result.Tables, x => x.Table == "big.t" && x.Rows == 1);
        await using var server = await TemporaryMariaDb.StartAsync(destination, null, CancellationToken.None);
        await using var c = await server.OpenAsync(CancellationToken.None);
        await using var q = new MySqlCommand("SELECT CONCAT_WS('\t', COUNT(*), SUM(LENGTH(v)), MD5(GROUP_CONCAT(MD5(v)))) FROM big.t", c);
        Assert.Equal(expected, (string)(await q.ExecuteScalarAsync())!);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, f.Replace(from, to));
    }
}
