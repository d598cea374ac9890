using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>The status rules with a fixed "as of", the storage trend and thresholds, and the Prometheus textfile.</summary>
public sealed partial class StatusTests
{
    private static readonly DateTime Day = new(2026, 11, 26, 0, 0, 0, DateTimeKind.Utc);
    private static readonly AlertPolicy Alerts = new() { DelayGrace = TimeSpan.FromHours(1) };
    private static readonly TargetPolicy Db = new()
    {
        Name = "main-db", Engine = TargetEngine.MariaDb, Socket = "/s",
        Schedule = new Dictionary<string, string> { ["full"] = "0 2 * * *", ["binlog"] = "*/15 * * * *" },
    };

    private static JournalEntry Attempt(DateTime end, string status = "Succeeded", double seconds = 60, long bytes = 1 << 30, string type = "full", string? error = null) =>
        new() { Time = end, Engine = "mariadb", Target = "main-db", Type = type, Status = status, DurationSeconds = seconds, StoredBytes = bytes, Error = error };

    private static BackupStatus Status(DateTime asOf, string type, params JournalEntry[] attempts) =>
        BackupStatusCalculator.Compute(Db, "mariadb", type, [], attempts, Alerts, asOf, null, null, TimeZoneInfo.Utc);

    [Fact]
    public void NeverIsAWarningOnlyWhenScheduled()
    {
        Assert.Equal((BackupState.Never, AlertSeverity.Warning), (Status(Day, "full").State, Status(Day, "full").Severity));
        Assert.Equal(AlertSeverity.None, Status(Day, "incremental").Severity);
    }

    [Fact]
    public void ASuccessAfterTheDueTimeIsOkAndTheNextDueIsTomorrow()
    {
        var s = Status(Day.AddHours(10), "full", Attempt(Day.AddHours(2).AddMinutes(5)));
        Assert.Equal((BackupState.Ok, AlertSeverity.None), (s.State, s.Severity));
        Assert.Equal(Day.AddDays(1).AddHours(2), s.NextDue);
        Assert.Equal(TimeSpan.FromSeconds(60), s.LastDuration);
    }

    [Theory]
    [InlineData(2.99, BackupState.Ok)]      // today's 02:00 run is due but still within the hour of grace
    [InlineData(3.01, BackupState.Delayed)] // past due + grace with no success since yesterday
    public void DelayedMeansADueTimePassedPlusGraceWithoutASuccess(double hours, BackupState expected)
    {
        var s = Status(Day.AddHours(hours), "full", Attempt(Day.AddDays(-1).AddHours(2).AddMinutes(5)));
        Assert.Equal(expected, s.State);
        if (expected == BackupState.Delayed) Assert.Contains("was due at 2026-11-26 02:00Z", s.Message);
    }

    [Fact]
    public void AStoppedBinlogScheduleIsDelayedFromTheFirstMissedRunNotTheLatestOne()
    {
        // Last success 08:00; every 15 minutes; at 10:50 the 08:15 run is 2.5 h overdue.
        var s = Status(Day.AddHours(10).AddMinutes(50), "binlog", Attempt(Day.AddHours(8).AddSeconds(2), seconds: 2, bytes: 1000, type: "binlog"));
        Assert.Equal(BackupState.Delayed, s.State);
        Assert.Contains("due at 2026-11-26 08:15Z", s.Message);
    }

    [Fact]
    public void TheNewestAttemptFailingIsCriticalWithTheFirstLineOfItsError()
    {
        var s = Status(Day.AddHours(3), "full", Attempt(Day.AddHours(-22)), Attempt(Day.AddHours(2).AddMinutes(1), "Failed", error: "mariabackup failed.\nmore"));
        Assert.Equal((BackupState.Failed, AlertSeverity.Critical), (s.State, s.Severity));
        Assert.Equal("mariabackup failed.", s.LastError);
        Assert.Contains("last success 2026-11-25 02:00Z", s.Message);
        Assert.Equal(AlertSeverity.Warning, Status(Day.AddHours(3), "full", Attempt(Day.AddHours(2), "Cancelled")).Severity);
    }

    [Fact]
    public void ABackupTenTimesSmallerThanUsualIsAnAnomaly()
    {
        var history = Enumerable.Range(0, 6).Select(i => Attempt(Day.AddDays(-6 + i).AddHours(2))).ToList();
        history.Add(Attempt(Day.AddHours(2).AddMinutes(5), bytes: 50 << 20));
        var s = Status(Day.AddHours(4), "full", [.. history]);
        Assert.Equal((BackupState.Ok, AlertSeverity.Warning), (s.State, s.Severity));
        Assert.Contains("a tenth or less of the usual 1.0 GB", s.Anomaly);
        Assert.Null(Status(Day.AddHours(4), "full", [.. history.Take(6)]).Anomaly);
    }

    private static BackupManifest Set(DateTime end, long bytes) => new()
    {
        Id = BackupSetWriter.NewId(end), Engine = "mariadb", Target = "main-db", Type = "full", StartTime = end, EndTime = end, StoredBytes = bytes,
    };

    [Theory]
    [InlineData(25, AlertSeverity.None)]
    [InlineData(15, AlertSeverity.Warning)]
    [InlineData(5, AlertSeverity.Critical)]
    public void StorageSeverityFollowsThePolicyThresholds(int freePercent, AlertSeverity expected) =>
        Assert.Equal(expected, StorageStatusCalculator.Compute("/r", 1000, freePercent * 10, [], [], new StoragePolicy(20, 10), Day, null).Severity);

    [Fact]
    public void GrowthIsTheLeastSquaresTrendOfTheLastFourteenDays()
    {
        var sets = Enumerable.Range(0, 20).Select(d => Set(Day.AddDays(-20 + d).AddHours(12), 1L << 30)).ToList(); // 1 GB a day
        var s = StorageStatusCalculator.Compute("/r", 100L << 30, 30L << 30, sets, [], new StoragePolicy(20, 10), Day, null);
        Assert.InRange(s.GrowthBytesPerDay, 0.99 * (1L << 30), 1.01 * (1L << 30));
        Assert.InRange(s.DaysUntilFull!.Value, 29.5, 30.5);
    }

    [Fact]
    public void SetsRemovedByRetentionCountUntilTheirDeletionSoASteadyStateDoesNotGrow()
    {
        // One 1 GB set a day, each removed after 7 days: the repository holds 7 GB, whatever the day.
        var onDisk = new List<BackupManifest>();
        var removed = new List<JournalEntry>();
        for (var d = 0; d < 30; d++)
        {
            var created = Day.AddDays(-30 + d).AddHours(2);
            if (created.AddDays(7) < Day)
                removed.Add(new JournalEntry
                {
                    Time = created.AddDays(7), Engine = "mariadb", Target = "main-db", Type = "full", Status = "Deleted",
                    Id = BackupSetWriter.NewId(created), StoredBytes = 1L << 30,
                });
            else onDisk.Add(Set(created, 1L << 30));
        }
        var s = StorageStatusCalculator.Compute("/r", 100L << 30, 30L << 30, onDisk, removed, new StoragePolicy(20, 10), Day, null);
        Assert.InRange(s.GrowthBytesPerDay, -0.05 * (1L << 30), 0.05 * (1L << 30));
    }

    [Fact]
    public void StorageStatusReadsARealFileSystemAsItFills()
    {
        using var dir = new TempDirectory();
        var mount = dir.Combine("fs");
        Directory.CreateDirectory(mount);
        Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mount);
        try
        {
            AlertSeverity Severity()
            {
                var (total, free) = StatusService.FileSystemSpace(Path.Combine(mount, "repo"));
                return StorageStatusCalculator.Compute(mount, total, free, [], [], new StoragePolicy(20, 10), DateTime.UtcNow, null).Severity;
            }
            Assert.Equal(AlertSeverity.None, Severity());
            File.WriteAllBytes(Path.Combine(mount, "a"), new byte[(int)(8 << 20) * 85 / 100]);
            Assert.Equal(AlertSeverity.Warning, Severity());
            File.WriteAllBytes(Path.Combine(mount, "b"), new byte[(int)(8 << 20) * 8 / 100]);
            Assert.Equal(AlertSeverity.Critical, Severity());
        }
        finally { Run("umount", mount); }
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }

    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="(\\\\|\\"|\\n|[^"\\\n])*",?)*\} (\+Inf|-Inf|NaN|-?[0-9.eE+-]+)$""")]
    private static partial Regex SampleLine();

    [Fact]
    public void TheTextfileIsStrictPrometheusFormat()
    {
        using var dir = new TempDirectory();
        var status = Status(Day.AddHours(10), "full", Attempt(Day.AddHours(2).AddMinutes(2))) with { Target = "odd \"name\"\\x" };
        var storage = StorageStatusCalculator.Compute("/r", 1000, 500, [], [], new StoragePolicy(20, 10), Day, null);
        var path = dir.Combine("out", "backuptools.prom");
        PrometheusTextfile.Write(path, PrometheusTextfile.Render([status], storage));
        var bytes = File.ReadAllBytes(path);
        Assert.False(bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB, "no BOM");
        var text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain('\r', text);
        Assert.EndsWith("\n", text);
        var families = new HashSet<string>();
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# TYPE ")) { Assert.True(families.Add(line.Split(' ')[2]), $"family declared twice: {line}"); continue; }
            if (line.StartsWith("# HELP ")) continue;
            Assert.Matches(SampleLine(), line);
            Assert.Contains(line[..line.IndexOf('{')], families);
        }
        Assert.True(text.Contains("""backuptools_state{target="odd \"name\"\\x",engine="mariadb",type="full"} 0"""), text);
        Assert.Contains("backuptools_storage_days_until_full{path=\"/r\"} +Inf", text);
        Assert.Empty(Directory.GetFiles(dir.Combine("out"), ".*.tmp"));
    }
}
