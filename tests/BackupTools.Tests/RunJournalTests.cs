using System.Diagnostics;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// The run journal under concurrency and on a full disk: a backup appending while status, metrics or retention read
/// must never fail either side, and a journal that cannot be written must not leave the partial set or the lock, nor
/// keep the Failed record from the pipeline.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class RunJournalTests(ServerFixture fixture)
{
    private static JournalEntry Entry(int writer, int i) => new()
    {
        Time = DateTime.UtcNow, Engine = "mariadb", Target = $"t{writer}", Type = "binlog", Status = "Succeeded",
        Id = $"{writer}-{i}", Error = new string('x', 200 + i % 50), Host = "h", ProcessId = writer,
    };

    [Fact]
    public async Task ConcurrentWritersAndReadersNeverFailEachOtherAndNoLineIsLost()
    {
        using var dir = new TempDirectory();
        const int Writers = 4, Rounds = 150;
        var errors = new List<Exception>();
        using var stop = new CancellationTokenSource();
        using var readersRunning = new CountdownEvent(3);
        // Own threads, not the pool: on two cores pooled readers could start only after the writers finished.
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Factory.StartNew(() =>
        {
            var reads = 0;
            while (!stop.IsCancellationRequested)
            {
                try { RunJournal.Read(dir.Path, warn => throw new InvalidDataException(warn)); }
                catch (Exception e) { lock (errors) errors.Add(e); }
                if (++reads == 1) readersRunning.Signal();
            }
            return reads;
        }, TaskCreationOptions.LongRunning)).ToList();
        readersRunning.Wait(TimeSpan.FromSeconds(30));
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < Rounds; i++)
            {
                try { RunJournal.Append(dir.Path, Entry(w, i)); }
                catch (Exception e) { lock (errors) errors.Add(e); }
            }
        }, TaskCreationOptions.LongRunning)).ToList();
        await Task.WhenAll(writers);
        stop.Cancel();
        var reads = await Task.WhenAll(readers);
        Assert.Empty(errors);
        Assert.All(reads, r => Assert.True(r > 1, "every reader ran while the writers wrote"));
        var entries = RunJournal.Read(dir.Path);
        Assert.Equal(Writers * Rounds, entries.Count);
        Assert.Equal(Writers * Rounds, entries.Select(e => e.Id).Distinct().Count());
    }

    /// <summary>
    /// Real backups (binlog archive runs of the fixture server, every 15 minutes in production, like the status job)
    /// while status, metrics and journal readers run in a loop: a fixed number of rounds, zero errors, every run journaled.
    /// </summary>
    [Fact]
    public async Task BackupsAndStatusMetricReadersRunTogetherWithoutAnError()
    {
        using var dir = new TempDirectory();
        var db = fixture.Servers.MariaDb;
        var target = new TargetPolicy
        {
            Name = "stress", Engine = TargetEngine.MariaDb, Socket = db.Socket, User = MariaDbServer.BackupUser,
            Schedule = new Dictionary<string, string> { ["binlog"] = "*/15 * * * *" },
        };
        var policy = new BackupPolicy
        {
            Path = dir.Combine("policy.yml"), Repository = dir.Combine("repo"), Targets = [target], Models = [], ConfigPaths = [],
            Storage = new StoragePolicy(20, 10), Alerts = new AlertPolicy(),
        };
        var request = new BackupRequest { RepositoryRoot = policy.Repository, Target = target, Password = db.BackupPassword };
        Assert.Null((await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None)).Error);
        const int Rounds = 12;
        var errors = new List<Exception>();
        using var done = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            var reads = 0;
            while (!done.IsCancellationRequested)
            {
                try
                {
                    var (statuses, storage) = BackupTools.Engine.Status.StatusService.Collect(policy, policy.Targets, DateTime.UtcNow);
                    BackupTools.Engine.Status.PrometheusTextfile.Render(statuses, storage);
                    reads++;
                }
                catch (Exception e) { lock (errors) errors.Add(e); }
            }
            return reads;
        }, TaskCreationOptions.LongRunning)).ToList();
        var attempts = new List<BackupAttempt>();
        for (var i = 0; i < Rounds; i++)
        {
            db.Sql("CREATE DATABASE IF NOT EXISTS stress; CREATE TABLE IF NOT EXISTS stress.t (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO stress.t VALUES ();");
            attempts.AddRange(await BinlogArchiver.RunAsync(request, CancellationToken.None));
        }
        done.Cancel();
        var reads = await Task.WhenAll(readers);
        Assert.Empty(errors);
        Assert.All(attempts, a => Assert.Null(a.Error));
        Assert.All(reads, r => Assert.True(r > 0));
        var journaled = RunJournal.Read(policy.Repository).Where(e => e.Target == "stress" && e.Type == "binlog").ToList();
        Assert.Equal(attempts.Count, journaled.Count(e => e.Status == "Succeeded"));
        Assert.DoesNotContain(journaled, e => e.Status != "Succeeded");
        Assert.Empty(Directory.GetFiles(Path.Combine(policy.Repository, TargetLock.DirectoryName)));
    }

    [Fact]
    public void ATornLastLineIsSkippedWithAWarningAndTheNextEntryStartsOnItsOwnLine()
    {
        using var dir = new TempDirectory();
        RunJournal.Append(dir.Path, Entry(1, 1));
        var file = Directory.GetFiles(dir.Combine(RunJournal.DirectoryName), "*.jsonl").Single();
        File.AppendAllText(file, "{\"time\":\"2026-"); // a crash mid-write
        var warnings = new List<string>();
        Assert.Single(RunJournal.Read(dir.Path, warnings.Add));
        Assert.Empty(warnings); // an unfinished last line may still be being written
        RunJournal.Append(dir.Path, Entry(1, 2));
        Assert.Equal(["1-1", "1-2"], RunJournal.Read(dir.Path, warnings.Add).Select(e => e.Id));
        Assert.Contains("Skipped line 2", Assert.Single(warnings)); // now ended by the next append: torn, and said so
    }

    /// <summary>A small tmpfs of the test's own as the repository; the backup fills it.</summary>
    [Fact]
    public async Task AFullDiskDuringABackupLeavesNoPartialSetNoLockAndAFailedRecordThatSaysWhy()
    {
        Assert.True(Environment.UserName == "root", "this test mounts a tmpfs and must run as root (CI does)");
        using var dir = new TempDirectory();
        var repo = dir.Combine("repo");
        Directory.CreateDirectory(repo);
        Run("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", repo);
        try
        {
            // Leave 64 KB: less than any full backup, more than the locks and directories a run creates first.
            var filler = Path.Combine(repo, "filler");
            Run("dd", "if=/dev/zero", $"of={filler}", "bs=64k", $"count={4 * 16 - 1}", "status=none");
            var db = fixture.Servers.MariaDb;
            var attempt = await MariaDbBackup.RunAsync(new BackupRequest
            {
                RepositoryRoot = repo, Password = db.BackupPassword,
                Target = new TargetPolicy { Name = "full-disk", Engine = TargetEngine.MariaDb, Socket = db.Socket, User = MariaDbServer.BackupUser },
            }, MariaDbCatalog.Full, CancellationToken.None);
            Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
            Assert.NotNull(attempt.Error);
            Assert.Contains("journal", attempt.Record.Error); // the disk was still full when the failure was journaled
            Assert.Empty(Directory.GetFiles(repo, "*.lock", SearchOption.AllDirectories));
            Assert.Empty(Directory.GetDirectories(repo, "*" + BackupCatalog.PartialSuffix, SearchOption.AllDirectories));
            Assert.Empty(BackupCatalog.List(repo));
            File.Delete(filler);
            // Room again: the next entry is whole and readable.
            RunJournal.Append(repo, Entry(9, 9));
            Assert.Contains(RunJournal.Read(repo), e => e.Id == "9-9");
        }
        finally
        {
            Run("umount", repo);
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        using var p = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true })!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed: {error}");
    }
}
