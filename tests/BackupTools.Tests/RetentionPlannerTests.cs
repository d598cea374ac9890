using BackupTools.Engine.Retention;

namespace BackupTools.Tests;

/// <summary>The retention rules, one table row each, and a property test over random histories.</summary>
public sealed class RetentionPlannerTests
{
    private static readonly DateTime Now = new(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);
    private static readonly Dictionary<string, TimeSpan> SeedPolicy = new()
    {
        ["full"] = TimeSpan.FromDays(30), ["incremental"] = TimeSpan.FromDays(7), ["binlog"] = TimeSpan.FromDays(14),
    };

    private static RetentionItem Full(string id, double daysAgo, int binlog) =>
        new(id, "full", Now.AddDays(-daysAgo), Now.AddDays(-daysAgo).AddMinutes(10), null, $"bin.{binlog:D6}", 100);
    private static RetentionItem Inc(string id, double daysAgo, string parent, int binlog) =>
        new(id, "incremental", Now.AddDays(-daysAgo), Now.AddDays(-daysAgo).AddMinutes(5), parent, $"bin.{binlog:D6}", 10);
    private static RetentionItem Log(string id, double daysAgo, int binlog) =>
        new(id, "binlog", Now.AddDays(-daysAgo), Now.AddDays(-daysAgo).AddSeconds(1), null, $"bin.{binlog:D6}", 1);

    private static HashSet<string> Removed(IEnumerable<RetentionItem> items, IReadOnlySet<string>? held = null, IReadOnlySet<string>? only = null,
        IReadOnlyDictionary<string, TimeSpan>? policy = null) =>
        RetentionPlanner.Plan(items.ToList(), policy ?? SeedPolicy, Now, held, only).Where(v => v.Remove).Select(v => v.Item.Id).ToHashSet();

    [Fact]
    public void OldFullsGoYoungOnesStay() =>
        Assert.Equal(["f40"], Removed([Full("f40", 40, 1), Full("f20", 20, 5), Full("f1", 1, 9)]));

    [Fact]
    public void TheNewestFullIsKeptEvenWhenExpired()
    {
        var verdicts = RetentionPlanner.Plan([Full("f90", 90, 1), Full("f60", 60, 3)], SeedPolicy, Now);
        Assert.Equal(["f90"], verdicts.Where(v => v.Remove).Select(v => v.Item.Id));
        Assert.Contains("newest full", verdicts.Single(v => v.Item.Id == "f60").Reason);
    }

    [Fact]
    public void SnapshotsExpireByAgeButTheNewestAlwaysStays()
    {
        RetentionItem Snap(string id, double daysAgo) => new(id, "snapshot", Now.AddDays(-daysAgo), Now.AddDays(-daysAgo).AddMinutes(1), null, null, 5);
        var policy = new Dictionary<string, TimeSpan> { ["snapshot"] = TimeSpan.FromDays(7) };
        Assert.Equal(["s10", "s20"], Removed([Snap("s20", 20), Snap("s10", 10), Snap("s2", 2)], policy: policy).Order());
        var verdicts = RetentionPlanner.Plan([Snap("s30", 30), Snap("s9", 9)], policy, Now);
        Assert.Equal(["s30"], verdicts.Where(v => v.Remove).Select(v => v.Item.Id));
        Assert.Contains("newest snapshot", verdicts.Single(v => v.Item.Id == "s9").Reason);
    }

    [Fact]
    public void AKeptIncrementalKeepsItsWholeChain()
    {
        // i3 is young; its chain i2 → i1 → f35 is older than every retention but must stay.
        var items = new[] { Full("f35", 35, 1), Inc("i1", 34, "f35", 2), Inc("i2", 20, "i1", 3), Inc("i3", 2, "i2", 4), Full("f50", 50, 0) };
        var verdicts = RetentionPlanner.Plan(items, SeedPolicy, Now);
        Assert.Equal(["f50"], verdicts.Where(v => v.Remove).Select(v => v.Item.Id));
        Assert.Contains("needed by the kept incremental i3", verdicts.Single(v => v.Item.Id == "i1").Reason);
    }

    [Fact]
    public void BinlogsFromTheOldestKeptBackupOnwardAreKeptHowEverOld()
    {
        // f25 (kept: young for a full) starts at binlog 10, so binlogs 10.. stay although older than 14 days.
        var items = new List<RetentionItem> { Full("f40", 40, 2), Full("f25", 25, 10) };
        for (var n = 2; n <= 20; n++) items.Add(Log($"b{n}", 40 - 2 * (n - 2), n));
        var removed = Removed(items);
        Assert.Equal(new HashSet<string> { "f40", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9" }, removed);
    }

    [Fact]
    public void AFailedNewestAttemptHoldsThatType()
    {
        var items = new[] { Full("f40", 40, 1), Full("f35", 35, 2), Full("f1", 1, 3) };
        Assert.Equal(["f35", "f40"], Removed(items).Order());
        Assert.Empty(Removed(items, held: new HashSet<string> { "full" }));
    }

    [Fact]
    public void PipelineInputLimitsWhatIsRemovedButNotWhatIsNeeded()
    {
        var items = new[] { Full("f40", 40, 1), Full("f35", 35, 2), Full("f1", 1, 3) };
        Assert.Equal(["f35"], Removed(items, only: new HashSet<string> { "f35", "f1" }));
    }

    [Fact]
    public void ATypeWithoutRetentionIsKeptForever() =>
        Assert.Empty(Removed([Full("f400", 400, 1), Full("f300", 300, 2)], policy: new Dictionary<string, TimeSpan>()));

    /// <summary>
    /// Random histories (60 days: daily fulls, 6-hourly incrementals, hourly binlogs; some backups failed, some
    /// binlogs lost) × random now × random retention: after applying the decisions every invariant holds.
    /// </summary>
    [Fact]
    public void RandomHistoriesNeverLoseWhatAKeptBackupNeeds()
    {
        for (var seed = 1; seed <= 300; seed++)
        {
            var random = new Random(seed);
            var start = Now.AddDays(-60);
            var items = new List<RetentionItem>();
            string? head = null;
            var binlog = 1;
            for (var hour = 0; hour < 60 * 24; hour++)
            {
                var t = start.AddHours(hour);
                if (random.NextDouble() > 0.03 || hour == 0) items.Add(Log($"b{binlog}", (Now - t).TotalDays, binlog)); // 3 % of files lost
                binlog++;
                if (hour % 24 == 2 && random.NextDouble() > 0.1)
                {
                    var f = Full($"f{hour}", (Now - t).TotalDays, binlog);
                    items.Add(f);
                    head = f.Id;
                }
                else if (hour % 6 == 0 && head is not null && random.NextDouble() > 0.1)
                {
                    var i = Inc($"i{hour}", (Now - t).TotalDays, head, binlog);
                    items.Add(i);
                    head = i.Id;
                }
            }
            var now = Now.AddDays(random.NextDouble() * 20);
            var policy = new Dictionary<string, TimeSpan>
            {
                ["full"] = TimeSpan.FromDays(random.Next(1, 40)), ["incremental"] = TimeSpan.FromDays(random.Next(1, 15)),
                ["binlog"] = TimeSpan.FromDays(random.Next(1, 20)),
            };
            var verdicts = RetentionPlanner.Plan(items, policy, now);
            var kept = verdicts.Where(v => !v.Remove).Select(v => v.Item).ToList();
            var keptIds = kept.Select(k => k.Id).ToHashSet();

            // Nothing younger than its retention is removed.
            foreach (var v in verdicts.Where(v => v.Remove))
                Assert.True(now - v.Item.StartTime > policy[v.Item.Type], $"seed {seed}: removed {v.Item.Id}, younger than its retention");
            // The newest full is kept.
            Assert.Contains(items.Where(i => i.Type == "full").MaxBy(i => i.StartTime)!.Id, keptIds);
            // Every kept incremental has its whole chain.
            var byId = items.ToDictionary(i => i.Id);
            foreach (var inc in kept.Where(k => k.Type == "incremental"))
                for (var p = inc.ParentId; p is not null; p = byId[p].ParentId)
                    Assert.True(keptIds.Contains(p), $"seed {seed}: kept {inc.Id} lost its parent {p}");
            // The window has no new hole: every binlog that existed from the oldest kept backup's file on is kept.
            var oldest = kept.Where(k => k.Type != "binlog").Min(k => RetentionPlanner.Sequence(k.BinlogFile!));
            foreach (var b in items.Where(i => i.Type == "binlog" && RetentionPlanner.Sequence(i.BinlogFile!) >= oldest))
                Assert.True(keptIds.Contains(b.Id), $"seed {seed}: removed {b.Id}, which the window from the oldest kept backup needs");
        }
    }
}
