using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Retention on disk against real backups: locks, reader leases, crash-safe deletes.</summary>
[Collection(ServerCollection.Name)]
public sealed class RetentionRunnerTests(ServerFixture fixture)
{
    private readonly MariaDbServer _db = fixture.Servers.MariaDb;

    private TargetPolicy Target() => new()
    {
        Name = "main-db", Engine = TargetEngine.MariaDb, Socket = _db.Socket, User = MariaDbServer.BackupUser,
        Retention = new Dictionary<string, TimeSpan> { ["full"] = TimeSpan.FromDays(30), ["incremental"] = TimeSpan.FromDays(7), ["binlog"] = TimeSpan.FromDays(14) },
    };

    private async Task<string> TwoFullsAsync(TempDirectory dir)
    {
        var repo = dir.Combine("repo");
        var request = new BackupRequest { RepositoryRoot = repo, Target = Target(), Password = _db.BackupPassword };
        Assert.Null((await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None)).Error);
        Assert.Null((await MariaDbBackup.RunAsync(request, MariaDbCatalog.Full, CancellationToken.None)).Error);
        return repo;
    }

    private static Task<RetentionOutcome> RunAsync(string repo, TargetPolicy target, int daysAhead) =>
        RetentionRunner.RunAsync(repo, target, DateTime.UtcNow.AddDays(daysAhead), null, _ => Task.FromResult(true), null, CancellationToken.None);

    [Fact]
    public async Task ARestoreReadingTheTargetHoldsRetention()
    {
        using var dir = new TempDirectory();
        var repo = await TwoFullsAsync(dir);
        await using (TargetLock.Acquire(repo, "mariadb", "main-db", scope: TargetLock.ReaderScope + "test"))
        {
            var held = await RunAsync(repo, Target(), 40);
            Assert.Contains("a restore", held.Skipped);
            Assert.Equal(2, BackupCatalog.List(repo).Count);
        }
        var outcome = await RunAsync(repo, Target(), 40);
        Assert.Null(outcome.Skipped);
        Assert.Single(outcome.Removed);
        Assert.Single(BackupCatalog.List(repo));
        Assert.Contains(RunJournal.Read(repo), j => j.Status == "Deleted" && j.Id == outcome.Removed[0].Id);
    }

    [Fact]
    public async Task ARunningBackupHoldsRetention()
    {
        using var dir = new TempDirectory();
        var repo = await TwoFullsAsync(dir);
        await using var run = BackupRun.Start(repo, "mariadb", "main-db", "incremental");
        var outcome = await RunAsync(repo, Target(), 40);
        Assert.Contains("busy", outcome.Skipped);
        Assert.Equal(2, BackupCatalog.List(repo).Count);
    }

    [Fact]
    public async Task AHalfDeletedSetIsNeverListedAndIsCleanedUp()
    {
        using var dir = new TempDirectory();
        var repo = await TwoFullsAsync(dir);
        var oldest = BackupCatalog.List(repo).Last();
        // A crash right after the rename, before the delete finished.
        Directory.Move(oldest.Path, oldest.Path + BackupCatalog.DeletingSuffix);
        File.Delete(Path.Combine(oldest.Path + BackupCatalog.DeletingSuffix, BackupManifest.FileName));
        Assert.Single(BackupCatalog.List(repo));
        await RunAsync(repo, Target(), 0);
        Assert.False(Directory.Exists(oldest.Path + BackupCatalog.DeletingSuffix));
    }
}
