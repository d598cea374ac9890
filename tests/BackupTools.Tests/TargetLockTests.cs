using System.Diagnostics;
using System.Text.Json;
using BackupTools.Engine.Repository;

namespace BackupTools.Tests;

public sealed class TargetLockTests
{
    private static string LockPath(string root) => Path.Combine(root, "_locks", "mariadb-main-db.lock");

    private static void WriteLease(string root, LockLease lease)
    {
        Directory.CreateDirectory(Path.Combine(root, "_locks"));
        File.WriteAllBytes(LockPath(root), JsonSerializer.SerializeToUtf8Bytes(lease, RepositoryJson.Default.LockLease));
    }

    [Fact]
    public async Task SecondRunOnTheSameTargetFailsFastNamingTheHolder()
    {
        using var dir = new TempDirectory();
        await using var first = TargetLock.Acquire(dir.Path, "mariadb", "main-db");
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<TargetLockedException>(() => TargetLock.Acquire(dir.Path, "mariadb", "main-db"));
        Assert.True(clock.ElapsedMilliseconds < 500);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);
        Assert.Contains(Environment.MachineName, e.Message);
        Assert.Equal(first.Lease.RunId, e.Lease?.RunId);
        // Another target is not blocked.
        await using var other = TargetLock.Acquire(dir.Path, "mariadb", "other-db");
    }

    [Fact]
    public async Task ReleasedLockCanBeTakenAgain()
    {
        using var dir = new TempDirectory();
        await (TargetLock.Acquire(dir.Path, "mariadb", "main-db")).DisposeAsync();
        Assert.False(File.Exists(LockPath(dir.Path)));
        await using var again = TargetLock.Acquire(dir.Path, "mariadb", "main-db");
    }

    [Fact]
    public async Task LockOfADeadProcessOnThisHostIsTakenOverAndLogged()
    {
        using var dir = new TempDirectory();
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        var now = DateTime.UtcNow;
        WriteLease(dir.Path, new LockLease(Environment.MachineName, gone.Id, now.AddSeconds(-5), now.AddMinutes(-1), now.AddHours(1), "dead-run"));
        var log = new List<string>();
        await using var taken = TargetLock.Acquire(dir.Path, "mariadb", "main-db", log.Add);
        Assert.Contains(log, l => l.Contains($"process {gone.Id}") && l.Contains("that process is gone"));
        Assert.NotEqual("dead-run", taken.Lease.RunId);
    }

    [Fact]
    public async Task LockWithAReusedPidIsTakenOver()
    {
        using var dir = new TempDirectory();
        // Our own PID, but the owner 'started' a day earlier than we did: the PID was reused.
        var now = DateTime.UtcNow;
        using var self = Process.GetCurrentProcess();
        WriteLease(dir.Path, new LockLease(Environment.MachineName, Environment.ProcessId, self.StartTime.ToUniversalTime().AddDays(-1), now, now.AddHours(1), "old"));
        await using var taken = TargetLock.Acquire(dir.Path, "mariadb", "main-db");
        Assert.NotEqual("old", taken.Lease.RunId);
    }

    [Fact]
    public async Task LeaseFromAnotherHostHoldsUntilItExpires()
    {
        using var dir = new TempDirectory();
        var now = DateTime.UtcNow;
        WriteLease(dir.Path, new LockLease("other-host", 1, now, now, now.AddMinutes(10), "remote"));
        Assert.Throws<TargetLockedException>(() => TargetLock.Acquire(dir.Path, "mariadb", "main-db"));

        WriteLease(dir.Path, new LockLease("other-host", 1, now, now.AddHours(-2), now.AddMinutes(-1), "remote-expired"));
        var log = new List<string>();
        await using var taken = TargetLock.Acquire(dir.Path, "mariadb", "main-db", log.Add);
        Assert.Contains(log, l => l.Contains("other-host") && l.Contains("lease ended"));
    }

    [Fact]
    public void StaleLockBeingTakenOverByAnotherRunIsReportedAsSuchNotAsItsDeadOwner()
    {
        using var dir = new TempDirectory();
        var now = DateTime.UtcNow;
        WriteLease(dir.Path, new LockLease("other-host", 1, now, now.AddHours(-2), now.AddMinutes(-1), "expired"));
        File.WriteAllText(LockPath(dir.Path) + ".takeover", ""); // another run is mid-takeover
        var e = Assert.Throws<TargetLockedException>(() => TargetLock.Acquire(dir.Path, "mariadb", "main-db"));
        Assert.Null(e.Lease);
        Assert.Contains("taking over its lock at this moment", e.Message);
    }

    [Fact]
    public async Task LeaseIsRenewedWhileTheRunLasts()
    {
        using var dir = new TempDirectory();
        await using var held = TargetLock.Acquire(dir.Path, "mariadb", "main-db", lease: TimeSpan.FromMilliseconds(600));
        var first = held.Lease.Expires;
        LockLease OnDisk() => JsonSerializer.Deserialize(File.ReadAllBytes(LockPath(dir.Path)), RepositoryJson.Default.LockLease)!;
        // Renewal runs on a timer every lease/3; other tests may keep the thread pool busy, so allow it time.
        await ProcessRunnerTests.WaitUntil(() => OnDisk().Expires > first, 5000);
        Assert.True(OnDisk().Expires > first, "the lease on disk was not renewed");
        Assert.Throws<TargetLockedException>(() => TargetLock.Acquire(dir.Path, "mariadb", "main-db"));
    }

    [Fact]
    public async Task FailedLockAttemptIsJournaled()
    {
        using var dir = new TempDirectory();
        await using var first = BackupRun.Start(dir.Path, "mariadb", "main-db", "full");
        Assert.Throws<TargetLockedException>(() => BackupRun.Start(dir.Path, "mariadb", "main-db", "incremental"));
        var entry = Assert.Single(RunJournal.Read(dir.Path));
        Assert.Equal(("Failed", "incremental"), (entry.Status, entry.Type));
        Assert.Contains("busy", entry.Error);
    }

    [Fact]
    public async Task BinlogArchivingRunsBesideAFullBackupAndLeavesItsPartialAlone()
    {
        using var dir = new TempDirectory();
        await using var full = BackupRun.Start(dir.Path, "mariadb", "main-db", "full");
        await using (var binlog = BackupRun.Start(dir.Path, "mariadb", "main-db", "binlog"))
        {
            Assert.True(Directory.Exists(full.Writer.PartialPath), "the binlog run removed the running full backup's partial set");
            var e = Assert.Throws<TargetLockedException>(() => BackupRun.Start(dir.Path, "mariadb", "main-db", "binlog"));
            Assert.Contains("'main-db' (binlog) is busy", e.Message);
        }
    }
}
