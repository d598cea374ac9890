using System.Diagnostics;
using System.Security.Cryptography;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Binary logs streamed from a real MariaDB as a replica: on disk within seconds, sealed on rotation, resumed after a kill, never archived twice.</summary>
[Collection(BinlogStreamCollection.Name)]
public sealed class BinlogStreamTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly MariaDbServer _server;

    public BinlogStreamTests()
    {
        _server = MariaDbServer.Start(_dir.Combine("db"));
        _server.Sql($"GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1';" +
                    "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY) ENGINE=InnoDB;");
    }

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    private string Repo => _dir.Combine("repo");
    private TargetPolicy Target => new()
    {
        Name = "streamed", Engine = TargetEngine.MariaDb, Socket = _server.Socket, User = MariaDbServer.BackupUser, DataDir = _server.DataDirectory,
    };
    private BackupPolicy Policy => new()
    {
        Path = _dir.Combine("policy.yml"), Repository = Repo, Targets = [Target], Models = [], ConfigPaths = [], Storage = new StoragePolicy(20, 10), Alerts = new AlertPolicy(),
    };
    private BackupRequest Request => new() { RepositoryRoot = Repo, Target = Target, Password = _server.BackupPassword, Compression = CompressionOptions.None };

    private string ServerFile(string name) => Path.Combine(Path.GetDirectoryName(_server.Sql("SELECT @@log_bin_basename").Trim())!, name);

    /// <summary>Waits for a condition, polling every 50 ms; fails the test naming what did not happen.</summary>
    internal static async Task Until(Func<bool> condition, string what, int seconds = 15)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"{what}: not within {seconds} s");
            await Task.Delay(50);
        }
    }

    private IReadOnlyList<CatalogEntry> Binlogs() => BackupCatalog.List(Repo, "mariadb", "streamed").Where(e => e.Manifest.Type == "binlog").ToList();

    private string Newest() => _server.Sql("SHOW BINARY LOGS").Trim().Split('\n')[^1].Split('\t')[0];

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    [Theory]
    [InlineData("builtin")]
    [InlineData("mariadb-binlog")]
    public async Task EventsAreOnDiskWithinSecondsSealedOnRotationResumedAfterAKillAndNeverArchivedTwice(string client)
    {
        BinlogStream.ServerIdOverride = 4_242_001;
        using var stop = new CancellationTokenSource();
        var sealedSets = new List<BackupAttempt>();
        var request = Request with { Target = Target with { StreamWithMariaDbBinlog = client == "mariadb-binlog" }, Log = _ => { } };
        var stream = Task.Run(() => BinlogStream.RunAsync(request, a => { lock (sealedSets) sealedSets.Add(a); }, stop.Token));
        try
        {
            var directory = BinlogStream.DirectoryFor(Repo, "streamed");
            // A commit reaches the streamed file (the server's size) within a few seconds.
            _server.Sql("INSERT INTO s.t VALUES (1);");
            var current = Newest();
            var size = new FileInfo(ServerFile(current)).Length;
            await Until(() => File.Exists(Path.Combine(directory, current)) && new FileInfo(Path.Combine(directory, current)).Length == size, "the commit in the streamed file");

            // Rotation: the closed file is sealed into a binlog set whose bytes are the server's, and its streamed copy goes.
            _server.Sql("FLUSH BINARY LOGS;");
            await Until(() => Binlogs().Any(b => b.Manifest.EngineFields[EngineFieldNames.BinlogFile] == current), "the sealed set of " + current);
            var set = Binlogs().Single(b => b.Manifest.EngineFields[EngineFieldNames.BinlogFile] == current);
            Assert.Equal(Sha(ServerFile(current)), set.Manifest.Files[0].Sha256);
            await Until(() => !File.Exists(Path.Combine(directory, current)), "the streamed copy removed once sealed");
            Assert.Null(sealedSets.Single().Error);

            // The replica killed (the tool, or the server's end of the own connection): it is started again on the file it
            // was writing, which comes out whole.
            if (client == "mariadb-binlog")
            {
                var ours = OurReplicas().ToList();
                Assert.Single(ours);
                foreach (var pid in ours) Process.GetProcessById(pid).Kill(); // only this stream's tool: other tests run mariadb-binlog too
            }
            else
            {
                Assert.Empty(OurReplicas()); // the own connection: no mariadb-binlog runs
                Assert.Equal(1, KillReplicaConnections(_server));
            }
            _server.Sql("INSERT INTO s.t VALUES (2); FLUSH BINARY LOGS;");
            var second = Binlogs().Count + 1;
            await Until(() => Binlogs().Count >= second, "the next file sealed after the kill", 30);
            foreach (var b in Binlogs())
                Assert.Equal(Sha(ServerFile(b.Manifest.EngineFields[EngineFieldNames.BinlogFile])), b.Manifest.Files[0].Sha256);

            // It reports: in sync with the server (a lag of a second or two), the file it receives.
            await Until(() => BinlogStreamState.Read(directory) is { } st && st.File == Newest(), "the stream's state naming the server's current file");
            var running = BinlogStreamState.Statuses(Policy, DateTime.UtcNow).Single();
            Assert.Equal(("Running", AlertSeverity.None), (running.State, running.Severity));
            Assert.True(running.Lag < TimeSpan.FromSeconds(5), $"lag {running.Lag}");

            // The scheduled archiving beside it archives only what the stream has not sealed.
            foreach (var a in await BinlogArchiver.RunAsync(Request, CancellationToken.None)) Assert.Null(a.Error);
            var names = Binlogs().Select(b => b.Manifest.EngineFields[EngineFieldNames.BinlogFile]).ToList();
            Assert.Equal(names.Distinct().Count(), names.Count);
        }
        finally
        {
            stop.Cancel();
            await stream;
            BinlogStream.ServerIdOverride = null;
        }
        Assert.Empty(OurReplicas()); // stopped with the job: no replica of ours is left connected
        // The own connection asks for heartbeats, so the server finds it closed at the next one (it notices mariadb-binlog's
        // end only when the next event is sent).
        if (client == "builtin") await Until(() => ReplicaConnections(_server).Count == 0, "the server's end of the replica connection gone");
        Assert.Empty(BinlogStreamState.Statuses(Policy, DateTime.UtcNow)); // stopped by the user: nothing reads as a dead stream
    }

    [Fact]
    public async Task ASealThatFailsIsTriedAgainAMinuteLaterNotEverySecond()
    {
        BinlogStream.ServerIdOverride = 4_242_002;
        using var stop = new CancellationTokenSource();
        var attempts = new List<BackupAttempt>();
        var directory = BinlogStream.DirectoryFor(Repo, "streamed");
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "mariadb-bin.000000"), "not a binary log"); // a closed file that cannot be sealed
        var stream = Task.Run(() => BinlogStream.RunAsync(Request with { Log = _ => { } }, a => { lock (attempts) attempts.Add(a); }, stop.Token));
        try
        {
            await Until(() => { lock (attempts) return attempts.Count > 0; }, "the failed seal");
            await Task.Delay(4000);
            lock (attempts) Assert.Single(attempts, a => a.Error is not null);
        }
        finally
        {
            stop.Cancel();
            await stream;
            BinlogStream.ServerIdOverride = null;
        }
    }

    [Fact]
    public void AStreamThatStoppedReportingIsDeadAndOneLongOutOfSyncIsBehind()
    {
        var directory = BinlogStream.DirectoryFor(Repo, "streamed");
        Directory.CreateDirectory(directory);
        var now = DateTime.UtcNow;
        new BinlogStreamState("h", 1, now.AddMinutes(-2), "mariadb-bin.000003", 100, "mariadb-bin.000003", 100, now.AddMinutes(-2)).Write(directory);
        var dead = BinlogStreamState.Statuses(Policy, now).Single();
        Assert.Equal(("Dead", AlertSeverity.Critical), (dead.State, dead.Severity));
        Assert.Contains("Start-BinlogStream", dead.Message);
        new BinlogStreamState("h", 1, now, "mariadb-bin.000003", 100, "mariadb-bin.000003", 4096, now.AddSeconds(-30)).Write(directory);
        var behind = BinlogStreamState.Statuses(Policy, now).Single();
        Assert.Equal(("Behind", AlertSeverity.Warning, 3996L), (behind.State, behind.Severity, behind.BytesBehind));
        // Not receiving (the server down, retrying) past stream.maxGap: Disconnected, with what the tool said.
        new BinlogStreamState("h", 1, now, "mariadb-bin.000003", 100, null, null, now.AddSeconds(-90), now.AddSeconds(-90), "Can't connect to server").Write(directory);
        var gap = BinlogStreamState.Statuses(Policy, now).Single();
        Assert.Equal(("Disconnected", AlertSeverity.Warning), (gap.State, gap.Severity));
        Assert.Contains("Can't connect to server", gap.Message);
        Assert.Equal("Behind", BinlogStreamState.Statuses(Policy with { Targets = [Target with { StreamMaxGap = TimeSpan.FromMinutes(5) }] }, now).Single().State);
        // A policy that asks for a stream none runs: Stopped; without stream: nothing to say.
        BinlogStreamState.Remove(directory);
        Assert.Empty(BinlogStreamState.Statuses(Policy, now));
        var stopped = BinlogStreamState.Statuses(Policy with { Targets = [Target with { Stream = true }] }, now).Single();
        Assert.Equal(("Stopped", AlertSeverity.Warning), (stopped.State, stopped.Severity));
        Assert.Contains("backuptools-stream@streamed.service", stopped.Message);
        new BinlogStreamState("h", 1, now, "mariadb-bin.000003", 100, "mariadb-bin.000003", 4096, now.AddSeconds(-30)).Write(directory);
        // With stream.maxLag: 1m in the policy, 30 s behind is within the limit.
        var lenient = Policy with { Targets = [Target with { StreamMaxLag = TimeSpan.FromMinutes(1) }] };
        Assert.Equal("Running", BinlogStreamState.Statuses(lenient, now).Single().State);
        var text = BackupTools.Engine.Status.PrometheusTextfile.Render([], new StorageStatus { Path = Repo, TotalBytes = 1, FreeBytes = 1, Severity = AlertSeverity.None }, null, [behind]);
        Assert.Contains("backuptools_stream_lag_seconds{target=\"streamed\"} 30\n", text);
        Assert.Contains("backuptools_stream_up{target=\"streamed\"} 1\n", text);
    }

    [Fact]
    public void AStreamedFileCountsUpToItsLastWholeTransactionWhereverItIsCut()
    {
        _server.Sql("FLUSH BINARY LOGS; CREATE TABLE s.m (id INT) ENGINE=MyISAM;" +
                    "BEGIN; INSERT INTO s.t VALUES (10); INSERT INTO s.t VALUES (11); COMMIT; INSERT INTO s.m VALUES (1);" +
                    "INSERT INTO s.t VALUES (12); ALTER TABLE s.t ADD COLUMN c INT; INSERT INTO s.t VALUES (13, 1);");
        var name = Newest();
        var bytes = File.ReadAllBytes(ServerFile(name));
        // Where transactions end, by the server's own account: an Xid (InnoDB), a COMMIT query (MyISAM), a DDL statement.
        var events = _server.Sql($"SHOW BINLOG EVENTS IN '{name}'").Trim().Split('\n').Select(l => l.Split('\t')).ToList();
        var ends = events.Where(e => e[2] == "Xid" || (e[2] == "Query" && (e[5] == "COMMIT" || e[5].StartsWith("ALTER", StringComparison.Ordinal) || e[5].StartsWith("CREATE", StringComparison.Ordinal))))
            .Select(e => long.Parse(e[4])).ToList();
        Assert.Equal(6, ends.Count); // CREATE, the InnoDB pair, MyISAM, 12, ALTER, 13
        var directory = BinlogStream.DirectoryFor(Repo, "streamed");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        var firstEnd = ends.Min();
        for (var cut = firstEnd - 40; cut <= bytes.Length; cut++)
        {
            File.WriteAllBytes(path, bytes[..(int)cut]);
            var entry = StreamedBinlogs.AddTo(Repo, "streamed", BinlogHistory.Load(Repo, "streamed")).Single();
            var whole = StreamedBinlogs.Bytes(entry);
            var lastEnd = ends.Where(e => e <= cut).DefaultIfEmpty(0).Max();
            Assert.True(whole <= cut && whole >= lastEnd, $"cut at {cut}: {whole} bytes counted, the last transaction before it ends at {lastEnd}");
            if (ends.Contains(cut)) Assert.Equal(cut, whole);
        }
        // Cut where each transaction ends, the last one reached is that transaction, whatever ended it (an Xid, a
        // COMMIT query, the DDL statement itself): a replica set to the restore's ReachedGtid must not apply it again.
        foreach (var end in ends)
        {
            var gtid = events.Last(e => e[2] == "Gtid" && long.Parse(e[4]) < end)[5].Split(' ').Single(w => w.Count(c => c == '-') == 2);
            var scanner = new BinlogScanner(new MemoryStream(bytes[..(int)end]), DateTime.UtcNow.AddDays(1));
            scanner.CopyTo(Stream.Null);
            Assert.Equal(gtid, scanner.Facts.LastCompleteGtid);
        }
    }

    [Fact]
    public async Task AfterAFailoverTheOldPrimarysFileIsSealedNotOverwrittenAndTheNewOneStartsATimeline()
    {
        // Server B, promoted: its own server id and its own files, named as A's were (mariadb-bin.000001 …).
        using var b = MariaDbServer.Start(_dir.Combine("db-b"), serverId: 2);
        b.Sql($"ALTER USER '{MariaDbServer.BackupUser}'@'127.0.0.1' IDENTIFIED BY '{_server.BackupPassword}'; " +
              $"GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1'; CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY) ENGINE=InnoDB;");
        using var proxy = new LoopbackProxy(_server.Port);
        var target = Target with { Socket = null, Host = "127.0.0.1", Port = proxy.Port };
        using var stop = new CancellationTokenSource();
        var log = new List<string>();
        var stream = Task.Run(() => BinlogStream.RunAsync(Request with { Target = target, Log = l => { lock (log) log.Add(l); } }, _ => { }, stop.Token));
        try
        {
            var directory = BinlogStream.DirectoryFor(Repo, "streamed");
            _server.Sql("INSERT INTO s.t VALUES (1), (2);");
            var aFile = Newest();
            var aPath = ServerFile(aFile);
            await Until(() => File.Exists(Path.Combine(directory, aFile)) && new FileInfo(Path.Combine(directory, aFile)).Length == new FileInfo(aPath).Length, "A's commits streamed");
            _server.Kill();
            // As if the stream had been killed while writing A's last event: a torn tail, which no server will complete.
            await Task.Delay(300);
            await using (var torn = new FileStream(Path.Combine(directory, aFile), FileMode.Append)) torn.Write([0x11, 0x22, 0x33, 0x44, 0x55]);
            await proxy.RetargetAsync(b.Port, TimeSpan.FromSeconds(1));
            b.Sql("FLUSH BINARY LOGS; INSERT INTO s.t VALUES (100);");
            var bFile = b.Sql("SHOW BINARY LOGS").Trim().Split('\n')[^1].Split('\t')[0];
            var bPath = Path.Combine(b.BinlogDirectory, bFile);
            // A's file, exactly as A wrote it, is sealed on its timeline; B's is streamed beside it, not over it.
            await Until(() => Binlogs().Any(s => s.Manifest.EngineFields[EngineFieldNames.ServerId] == "1" && s.Manifest.EngineFields[EngineFieldNames.BinlogFile] == aFile),
                "A's last file sealed", 30);
            var sealedA = Binlogs().Single(s => s.Manifest.EngineFields[EngineFieldNames.BinlogFile] == aFile && s.Manifest.EngineFields[EngineFieldNames.ServerId] == "1");
            // Byte for byte as A wrote it, but for the in-use flag of its format description (header flags at offset 21):
            // A died with the file open, and the dump sends the event with the flag clear.
            AssertSameButInUseFlag(aPath, Path.Combine(sealedA.Path, sealedA.Manifest.Files[0].Name));
            // The torn tail was cut off to seal it, and kept beside it.
            Assert.Equal([0x11, 0x22, 0x33, 0x44, 0x55], File.ReadAllBytes(Directory.EnumerateFiles(directory, aFile + ".cut-*").Single()));
            await Until(() => File.Exists(Path.Combine(directory, bFile)) && new FileInfo(Path.Combine(directory, bFile)).Length == new FileInfo(bPath).Length, "B's commits streamed", 30);
            AssertSameButInUseFlag(bPath, Path.Combine(directory, bFile));
            var streamed = StreamedBinlogs.AddTo(Repo, "streamed", BinlogHistory.Load(Repo, "streamed")).Single();
            Assert.Equal("2", streamed.Manifest.EngineFields[EngineFieldNames.ServerId]);
            Assert.NotEqual(sealedA.Manifest.EngineFields[EngineFieldNames.Timeline], streamed.Manifest.EngineFields[EngineFieldNames.Timeline]);
        }
        finally
        {
            stop.Cancel();
            await stream;
            lock (log) Console.WriteLine(string.Join("\n", log));
        }
    }

    [Fact]
    public async Task AStreamedCopyLongerThanTheServersFileIsSetAsideNotWrittenOver()
    {
        var directory = BinlogStream.DirectoryFor(Repo, "streamed");
        _server.Sql("INSERT INTO s.t VALUES (300);");
        var file = Newest();
        var local = Path.Combine(directory, file);
        await StreamUntilCaughtUpAsync(file);
        // The server lost a tail the stream had received (a crash with sync_binlog=0): here, the copy is made longer.
        var held = File.ReadAllBytes(local).Concat(new byte[100]).ToArray();
        File.WriteAllBytes(local, held);
        var warnings = new List<string>();
        using var again = new CancellationTokenSource();
        var second = Task.Run(() => BinlogStream.RunAsync(Request with { Log = _ => { }, Warn = w => { lock (warnings) warnings.Add(w); } }, _ => { }, again.Token));
        try
        {
            await Until(() => Directory.EnumerateFiles(directory, file + ".diverged-*").Any(), "the longer copy set aside");
            Assert.Equal(held, File.ReadAllBytes(Directory.EnumerateFiles(directory, file + ".diverged-*").Single()));
            await Until(() => CaughtUp(file), "the server's file streamed again");
            AssertSameButInUseFlag(ServerFile(file), local);
            lock (warnings) Assert.Contains(warnings, w => w.Contains("lost transactions") && w.Contains(".diverged-"));
        }
        finally
        {
            again.Cancel();
            await second;
        }
    }

    [Fact]
    public async Task WhileAResumedFileIsWrittenAgainRestoresReadTheHeldCopyAndItGoesOnceCaughtUp()
    {
        var directory = BinlogStream.DirectoryFor(Repo, "streamed");
        _server.Sql("INSERT INTO s.t VALUES (400); INSERT INTO s.t VALUES (401);");
        var file = Newest();
        var local = Path.Combine(directory, file);
        await StreamUntilCaughtUpAsync(file);
        // The moment after a restart: the tool has written the file again only in part; the held copy has it all.
        var whole = File.ReadAllBytes(local);
        File.WriteAllBytes(Path.Combine(directory, BinlogStream.HeldName(file)), whole);
        File.WriteAllBytes(local, whole[..300]);
        var entry = StreamedBinlogs.AddTo(Repo, "streamed", BinlogHistory.Load(Repo, "streamed")).Single();
        Assert.Equal(whole.Length, StreamedBinlogs.Bytes(entry));
        var copy = new MemoryStream();
        await StreamedBinlogs.CopyAsync(entry, copy, new BinlogScanner(Stream.Null), CancellationToken.None);
        Assert.Equal(whole, copy.ToArray());
        // Started again, the stream takes the held copy back, writes the file again, and drops the held copy once caught up.
        using var again = new CancellationTokenSource();
        var second = Task.Run(() => BinlogStream.RunAsync(Request with { Log = _ => { } }, _ => { }, again.Token));
        try
        {
            await Until(() => !File.Exists(Path.Combine(directory, BinlogStream.HeldName(file))) && CaughtUp(file), "the held copy released");
            AssertSameButInUseFlag(ServerFile(file), local);
        }
        finally
        {
            again.Cancel();
            await second;
        }
    }

    [Fact]
    public async Task WithSyncCommitEachCommitIsFsyncedAsItArrivesNotAtTheNextSecond()
    {
        var synced = new List<(DateTime At, string File, long Length)>();
        BinlogStream.SyncedHook = (file, length) => { lock (synced) synced.Add((DateTime.UtcNow, file, length)); };
        using var stop = new CancellationTokenSource();
        var stream = Task.Run(() => BinlogStream.RunAsync(Request with { Target = Target with { StreamSyncCommit = true }, Log = _ => { } }, _ => { }, stop.Token));
        try
        {
            var directory = BinlogStream.DirectoryFor(Repo, "streamed");
            await Until(() => BinlogStreamState.Read(directory) is not null, "the stream running");
            var delays = new List<double>();
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(170 + 37 * i); // not in step with the once-a-second sync
                _server.Sql($"INSERT INTO s.t VALUES ({100 + i});");
                var committed = DateTime.UtcNow;
                var (file, size) = (Newest(), new FileInfo(ServerFile(Newest())).Length);
                await Until(() => { lock (synced) return synced.Any(x => x.File == file && x.Length >= size); }, $"commit {i} fsynced");
                lock (synced) delays.Add((synced.First(x => x.File == file && x.Length >= size).At - committed).TotalMilliseconds);
            }
            // With the once-a-second sync alone, a commit waits 500 ms on average: a median under 200 ms is not luck.
            // (The median, not every one: a busy machine may delay a single fsync.)
            Assert.True(delays.Order().ElementAt(delays.Count / 2) < 200, "ms from commit to fsync: " + string.Join(", ", delays.Select(d => d.ToString("0"))));
        }
        finally
        {
            stop.Cancel();
            await stream;
            BinlogStream.SyncedHook = null;
        }
    }

    [Fact]
    public async Task AfterAFailoverToAServerWithLowerFileNumbersEveryOldFileIsSealedAndTheNewOnesStream()
    {
        // B, promoted, has only mariadb-bin.000001 while A had gone on to 000003: the new files number lower than the old.
        using var b = MariaDbServer.Start(_dir.Combine("db-b"), serverId: 3);
        b.Sql($"ALTER USER '{MariaDbServer.BackupUser}'@'127.0.0.1' IDENTIFIED BY '{_server.BackupPassword}'; " +
              $"GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1'; CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY) ENGINE=InnoDB;");
        using var proxy = new LoopbackProxy(_server.Port);
        var target = Target with { Socket = null, Host = "127.0.0.1", Port = proxy.Port };
        using var stop = new CancellationTokenSource();
        var stream = Task.Run(() => BinlogStream.RunAsync(Request with { Target = target, Log = _ => { } }, _ => { }, stop.Token));
        try
        {
            var directory = BinlogStream.DirectoryFor(Repo, "streamed");
            _server.Sql("INSERT INTO s.t VALUES (500); FLUSH BINARY LOGS; INSERT INTO s.t VALUES (501); FLUSH BINARY LOGS; INSERT INTO s.t VALUES (502);");
            var aNewest = Newest();
            var aPath = ServerFile(aNewest);
            await Until(() => File.Exists(Path.Combine(directory, aNewest)) && new FileInfo(Path.Combine(directory, aNewest)).Length == new FileInfo(aPath).Length, "A's newest file streamed");
            _server.Kill();
            await proxy.RetargetAsync(b.Port, TimeSpan.FromSeconds(1));
            b.Sql("INSERT INTO s.t VALUES (600);");
            var bFile = b.Sql("SHOW BINARY LOGS").Trim().Split('\n')[^1].Split('\t')[0];
            Assert.True(BinlogArchiver.Compare(bFile, aNewest) < 0, $"{bFile} should number lower than {aNewest}");
            var bPath = Path.Combine(b.BinlogDirectory, bFile);
            // A's newest file is sealed as A wrote it; B's lower-numbered file streams; nothing of A's is left unsealed.
            await Until(() => Binlogs().Any(x => x.Manifest.EngineFields[EngineFieldNames.ServerId] == "1" && x.Manifest.EngineFields[EngineFieldNames.BinlogFile] == aNewest), "A's newest file sealed", 30);
            var sealedA = Binlogs().Single(x => x.Manifest.EngineFields[EngineFieldNames.ServerId] == "1" && x.Manifest.EngineFields[EngineFieldNames.BinlogFile] == aNewest);
            AssertSameButInUseFlag(aPath, Path.Combine(sealedA.Path, sealedA.Manifest.Files[0].Name));
            await Until(() => File.Exists(Path.Combine(directory, bFile)) && new FileInfo(Path.Combine(directory, bFile)).Length == new FileInfo(bPath).Length, "B's file streamed", 30);
            AssertSameButInUseFlag(bPath, Path.Combine(directory, bFile));
            Assert.Equal([bFile], BinlogStream.Streamed(directory, "mariadb-bin"));
            // B keeps writing and the file it receives is the one that grows, not one of A's.
            b.Sql("INSERT INTO s.t VALUES (601);");
            await Until(() => new FileInfo(Path.Combine(directory, bFile)).Length == new FileInfo(bPath).Length, "B's next commit streamed");
        }
        finally
        {
            stop.Cancel();
            await stream;
        }
    }

    /// <summary>The streamed copy of a file of this server is as long as the server's.</summary>
    private bool CaughtUp(string file)
    {
        var local = Path.Combine(BinlogStream.DirectoryFor(Repo, "streamed"), file);
        return File.Exists(local) && new FileInfo(local).Length == new FileInfo(ServerFile(file)).Length;
    }

    /// <summary>Runs the stream until it holds the server's file whole, then stops it (as a user would).</summary>
    private async Task StreamUntilCaughtUpAsync(string file)
    {
        using var stop = new CancellationTokenSource();
        var stream = Task.Run(() => BinlogStream.RunAsync(Request with { Log = _ => { } }, _ => { }, stop.Token));
        try { await Until(() => CaughtUp(file), "the file streamed"); }
        finally
        {
            stop.Cancel();
            await stream;
        }
    }

    /// <summary>The copy is the server's open file: the same bytes but LOG_EVENT_BINLOG_IN_USE_F, which the server clears in what it sends.</summary>
    internal static void AssertSameButInUseFlag(string serverFile, string copy)
    {
        var a = File.ReadAllBytes(serverFile);
        var b = File.ReadAllBytes(copy);
        Assert.Equal(a.Length, b.Length);
        Assert.Equal([21], Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]));
    }

    /// <summary>The server's binlog dump threads: one per replica connected to it.</summary>
    internal static IReadOnlyList<string> ReplicaConnections(MariaDbServer server) =>
        server.Sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Kills every replica connection on the server (as a network cut or the replica's crash ends it); returns how many.</summary>
    internal static int KillReplicaConnections(MariaDbServer server)
    {
        var ids = ReplicaConnections(server);
        foreach (var id in ids) server.Sql($"KILL CONNECTION {id}");
        return ids.Count;
    }

    private static IEnumerable<int> OurReplicas()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            if (cmdline.Contains("--stop-never-slave-server-id=4242001")) yield return pid;
        }
    }
}
