using BackupTools.Engine.Alerts;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>An offsite repository's lag from the local catalog and the offsite journal: pending sets, lag, the last run; alerts and metrics.</summary>
public sealed class OffsiteStatusTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly RedisServer _redis;

    public OffsiteStatusTests() => _redis = RedisServer.Start(_dir.Combine("redis"));

    public void Dispose()
    {
        _redis.Dispose();
        _dir.Dispose();
    }

    private string Repo => _dir.Combine("repo");

    private BackupPolicy Policy(TimeSpan? maxLag = null) => new()
    {
        Path = _dir.Combine("policy.yml"), Repository = Repo, Models = [], ConfigPaths = [], Storage = new StoragePolicy(20, 10), Alerts = new AlertPolicy(),
        Targets = [Target],
        Offsite = [new OffsitePolicy { Name = "away", Kind = OffsiteKind.AzureBlob, ConnectionStringSource = "env:X", Container = "c", MaxLag = maxLag }],
    };

    private TargetPolicy Target => new() { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = _redis.Port };

    private async Task<CatalogEntry> SnapshotAsync()
    {
        var attempt = await RedisBackup.RunAsync(new BackupRequest { RepositoryRoot = Repo, Target = Target, Compression = CompressionOptions.None },
            RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(attempt.Error);
        return BackupCatalog.List(Repo, "redis", "cache").Single(e => e.Manifest.Id == attempt.Record.Id);
    }

    private string Relative(CatalogEntry e) => Path.GetRelativePath(Repo, e.Path).Replace('\\', '/');

    [Fact]
    public async Task PendingSetsLagAndTheLastRunMakeTheStateAlertsAndMetrics()
    {
        var first = await SnapshotAsync();
        var published = first.Manifest.EndTime;

        // Nothing copied, two days on: Never, a Warning that names the fix.
        var never = OffsiteStatusCalculator.Compute(Policy(), published.AddDays(2)).Single();
        Assert.Equal((BackupState.Never, AlertSeverity.Warning, 1), (never.State, never.Severity, never.PendingSets));
        Assert.Equal(first.Manifest.StoredBytes, never.PendingBytes);
        Assert.Equal(TimeSpan.FromDays(2), never.Lag);
        Assert.Contains("Copy-BackupSet -Offsite away", never.Message);
        // Within maxLag it is not an alert yet.
        Assert.Equal(AlertSeverity.None, OffsiteStatusCalculator.Compute(Policy(), published.AddHours(2)).Single().Severity);

        // Copied: nothing pending, Ok.
        OffsiteJournal.Append(Repo, "away", new OffsiteJournalEntry(published.AddMinutes(5), Relative(first), first.Manifest.StoredBytes));
        OffsiteJournal.Append(Repo, "away", new OffsiteJournalEntry(published.AddMinutes(5), RunSucceeded: true));
        var ok = OffsiteStatusCalculator.Compute(Policy(), published.AddDays(2)).Single();
        Assert.Equal((BackupState.Ok, 0, TimeSpan.Zero), (ok.State, ok.PendingSets, ok.Lag));
        Assert.Equal(published.AddMinutes(5), ok.LastSuccess);

        // A failed run after it: Critical with its error, even with nothing pending.
        OffsiteJournal.Append(Repo, "away", new OffsiteJournalEntry(published.AddHours(1), RunSucceeded: false, Error: "the connection string variable BACKUP_AZURE_CONN is not set"));
        var failed = OffsiteStatusCalculator.Compute(Policy(), published.AddHours(2)).Single();
        Assert.Equal((BackupState.Failed, AlertSeverity.Critical), (failed.State, failed.Severity));
        Assert.Contains("BACKUP_AZURE_CONN", failed.Message);
        var alert = AlertBuilder.From(failed)!;
        Assert.Equal((AlertSeverity.Critical, "offsite|away|Failed"), (alert.Severity, alert.Key));

        // A newer set not copied, the runs succeeding again: Delayed past maxLag, by the age of the oldest pending set.
        var second = await SnapshotAsync();
        OffsiteJournal.Append(Repo, "away", new OffsiteJournalEntry(published.AddHours(1).AddMinutes(1), RunSucceeded: true));
        var behind = OffsiteStatusCalculator.Compute(Policy(TimeSpan.FromMinutes(30)), second.Manifest.EndTime.AddHours(2)).Single();
        Assert.Equal((BackupState.Delayed, AlertSeverity.Warning, 1), (behind.State, behind.Severity, behind.PendingSets));
        Assert.Equal(TimeSpan.FromHours(2), behind.Lag);
        Assert.Contains("2 hours behind (maxLag 30 minutes)", behind.Message);

        var text = PrometheusTextfile.Render([], new StorageStatus { Path = Repo, TotalBytes = 1, FreeBytes = 1, Severity = AlertSeverity.None }, [behind]);
        Assert.Contains("backuptools_offsite_lag_seconds{offsite=\"away\",kind=\"AzureBlob\"} 7200\n", text);
        Assert.Contains("backuptools_offsite_pending_sets{offsite=\"away\",kind=\"AzureBlob\"} 1\n", text);
        Assert.Contains("backuptools_offsite_severity{offsite=\"away\",kind=\"AzureBlob\"} 1\n", text);
        Assert.Contains("# TYPE backuptools_offsite_max_lag_seconds gauge\n", text);
    }

    [Fact]
    public void AJournalLineCutByACrashIsPassedOverAndTheSetCountsAsPending()
    {
        OffsiteJournal.Append(Repo, "away", new OffsiteJournalEntry(DateTime.UtcNow, "redis/cache/snapshot/x", 10));
        File.AppendAllText(OffsiteJournal.PathFor(Repo, "away"), "{\"At\":\"2026-11-30T00:00:00Z\",\"Set\":\"redis/ca");
        Assert.Single(OffsiteJournal.Read(Repo, "away"));
    }
}
