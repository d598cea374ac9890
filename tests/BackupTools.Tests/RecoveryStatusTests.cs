using BackupTools.Engine.Platform;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>The recovery objectives judged from catalog entries and drill records (no server: the numbers alone).</summary>
public sealed class RecoveryStatusTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static readonly DateTime Now = new(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);

    public void Dispose() => _dir.Dispose();

    private BackupPolicy Policy(string platform = "platform: { targets: [cache] }\n") =>
        PolicyParser.Parse($"repository: {_dir.Path}\ntargets:\n  db: {{ engine: mariadb, socket: /s, rpo: 1m }}\n" +
                           $"  cache: {{ engine: redis, host: h, port: 1, rpo: 1h, rto: 10s }}\n{platform}", "/p.yml").Policy!;

    private static CatalogEntry Set(string engine, string target, string type, DateTime end, long bytes) => new(new BackupManifest
    {
        Id = $"{target}-{type}-{end:HHmmss}", Engine = engine, Target = target, Type = type, StartTime = end.AddMinutes(-1), EndTime = end, StoredBytes = bytes,
    }, "/nowhere");

    private static DrillRecord Drill(DateTime started, bool ok, params DrillPart[] parts) =>
        new(started, started.AddHours(-1), ok, parts.Sum(p => p.DurationSeconds) + 1, ok ? null : "a part failed", "host", parts);

    private static IReadOnlyList<RecoveryStatus> Compute(BackupPolicy policy, IReadOnlyList<CatalogEntry> entries, IReadOnlyList<DrillRecord> drills,
        (DateTime, DateTime)? dbWindow) =>
        RecoveryStatusCalculator.Compute(policy, policy.Targets, policy.Models, entries,
            new Dictionary<string, (DateTime From, DateTime To)?> { ["db"] = dbWindow }, drills, Now);

    [Fact]
    public void AchievedRpoIsTheNewestPointsAgeAndOverTheObjectiveIsAWarningNamingIt()
    {
        var entries = new[] { Set("mariadb", "db", "full", Now.AddDays(-2), 100), Set("redis", "cache", "snapshot", Now.AddMinutes(-30), 10) };
        var r = Compute(Policy(), entries, [], (Now.AddDays(-2), Now.AddMinutes(-15)));
        var db = r.Single(s => s.Part == "db");
        Assert.Equal((TimeSpan.FromMinutes(15), "OverRpo", AlertSeverity.Warning), (db.AchievedRpo!.Value, db.State, db.Severity));
        Assert.Contains("achieved RPO 15 min", db.Message, StringComparison.Ordinal);
        Assert.Contains("objective of 1 min", db.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromDays(2), db.OldestFullAge);
        var cache = r.Single(s => s.Part == "cache");
        Assert.Equal(TimeSpan.FromMinutes(30), cache.AchievedRpo);
        Assert.Equal("Unmeasured", cache.State); // within its rpo of 1 h, but its rto was never measured
        Assert.Equal("Ok", r.Single(s => s.Kind == "platform").State); // backed up for less than two weeks: not drilled yet is no alarm yet
    }

    [Fact]
    public void TheProjectedRtoScalesTheDrillByTheBytesARestoreReadsNow()
    {
        var entries = new[] { Set("redis", "cache", "snapshot", Now.AddMinutes(-5), 300) };
        var drills = new[] { Drill(Now.AddDays(-1), true, new DrillPart("cache", "Target", "redis", true, true, 5, 100, -60, null)) };
        var cache = Compute(Policy(), entries, drills, null).Single(s => s.Part == "cache");
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)), (cache.LastDrillRto!.Value, cache.ProjectedRto!.Value));
        Assert.Equal(("OverRto", AlertSeverity.Warning), (cache.State, cache.Severity));
        Assert.Contains("about 15 s, over the objective of 10 s", cache.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFailedDrillIsCriticalAndAnOldOneAWarningForPlatformParts()
    {
        var policy = Policy();
        var entries = new[] { Set("redis", "cache", "snapshot", Now.AddMinutes(-5), 100) };
        var failed = new[] { Drill(Now.AddDays(-1), false, new DrillPart("cache", "Target", "redis", false, true, 2, 100, null, "dump unreadable")) };
        var r = Compute(policy, entries, failed, null);
        var cache = r.Single(s => s.Part == "cache");
        Assert.Equal(("DrillFailed", AlertSeverity.Critical), (cache.State, cache.Severity));
        Assert.Contains("dump unreadable", cache.Message, StringComparison.Ordinal);
        Assert.Equal(("DrillFailed", AlertSeverity.Critical), (r.Single(s => s.Kind == "platform").State, r.Single(s => s.Kind == "platform").Severity));
        var old = new[] { Drill(Now.AddDays(-15), true, new DrillPart("cache", "Target", "redis", true, true, 2, 100, null, null)) };
        var platform = Compute(policy, entries, old, null).Single(s => s.Kind == "platform");
        Assert.Equal(("DrillOld", AlertSeverity.Warning), (platform.State, platform.Severity));
        Assert.Equal(TimeSpan.FromDays(15), platform.LastDrillAge);
    }

    [Fact]
    public void APlatformNeverDrilledThoughBackedUpForMoreThanTwoWeeksIsAWarning()
    {
        var entries = new[] { Set("redis", "cache", "snapshot", Now.AddDays(-20), 10), Set("redis", "cache", "snapshot", Now.AddMinutes(-5), 10) };
        var platform = Compute(Policy(), entries, [], null).Single(s => s.Kind == "platform");
        Assert.Equal(("NeverDrilled", AlertSeverity.Warning), (platform.State, platform.Severity));
        // A drill that stopped before it got to a part says nothing about that part.
        var notRun = new[] { Drill(Now.AddDays(-1), false, new DrillPart("cache", "Target", "redis", false, true, 0, 0, null, "not run: db cannot be restored", Ran: false)) };
        var cache = Compute(Policy(), entries, notRun, null).Single(s => s.Part == "cache");
        Assert.Null(cache.LastDrill);
        Assert.NotEqual("DrillFailed", cache.State);
    }

    [Fact]
    public void ThePlatformWindowEndsAtItsPointInTimePartAndItsRpoIsItsStalestParts()
    {
        var policy = Policy("platform: { targets: [db, cache] }\n");
        var entries = new[] { Set("mariadb", "db", "full", Now.AddDays(-3), 100), Set("redis", "cache", "snapshot", Now.AddHours(-2), 10), Set("redis", "cache", "snapshot", Now.AddDays(-1), 10) };
        var platform = Compute(policy, entries, [], (Now.AddDays(-3), Now.AddSeconds(-5))).Single(s => s.Kind == "platform");
        Assert.Equal((Now.AddDays(-1), Now.AddSeconds(-5)), (platform.RecoverableFrom!.Value, platform.RecoverableTo!.Value));
        Assert.Equal(TimeSpan.FromHours(2), platform.AchievedRpo);
    }

    [Fact]
    public void ADrillPointIsAWholeSecondInsideTheWindow()
    {
        var window = (From: Now, To: Now.AddSeconds(3.5));
        var random = new Random(1);
        for (var i = 0; i < 200; i++)
        {
            var p = PlatformDrill.RandomPoint(window, random);
            Assert.InRange(p, window.From, window.To);
            Assert.Equal(0, p.Ticks % TimeSpan.TicksPerSecond);
        }
        Assert.Null(PlatformWindow.Common([new("a", Now, Now.AddHours(1), null), new("b", Now.AddHours(2), Now.AddHours(3), null)], out var why));
        Assert.Contains("b begins at", why, StringComparison.Ordinal);
        Assert.Equal((Now.AddHours(1), Now.AddHours(2)), PlatformWindow.Common([new("a", Now, Now.AddHours(2), null), new("b", Now.AddHours(1), Now.AddHours(3), null)], out _));
    }
}
