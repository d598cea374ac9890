using System.Globalization;

namespace BackupTools.Engine.Retention;

/// <summary>What the planner needs of one backup set.</summary>
public sealed record RetentionItem(string Id, string Type, DateTime StartTime, DateTime EndTime, string? ParentId, string? BinlogFile, long StoredBytes)
{
    /// <summary>MariaDB: the binlog timeline a binlog file is on, or a backup started on; file numbers compare only within one.</summary>
    public int Timeline { get; init; } = 1;
}

/// <summary>The planner's verdict on one set: remove it, or keep it and why.</summary>
public sealed record RetentionVerdict(RetentionItem Item, bool Remove, string Reason);

/// <summary>
/// Decides which backup sets of one target expire, as a pure function of the sets, the retention per type and
/// "now", so every rule can be tested without a disk. Age alone never removes something a kept backup needs:
/// <list type="bullet">
/// <item>a set younger than its type's retention is kept (a type without retention is kept forever);</item>
/// <item>the newest full (and for Redis and Elasticsearch the newest snapshot) is always kept, even when expired;</item>
/// <item>a kept incremental keeps its whole chain (every parent up to its full);</item>
/// <item>on each binlog timeline, every binlog file from the oldest kept backup's binlog file onward is kept, so the
/// point-in-time window never gets a hole (numbers restart on a new timeline, so they are compared only within one);</item>
/// <item>while the newest attempt of a backup type failed, no set of that type is removed (a failing schedule
/// never deletes the last good backups: dbatools#6590).</item>
/// </list>
/// </summary>
public static class RetentionPlanner
{
    public const string Full = "full", Incremental = "incremental", Binlog = "binlog", Snapshot = "snapshot";

    public static IReadOnlyList<RetentionVerdict> Plan(IReadOnlyList<RetentionItem> items, IReadOnlyDictionary<string, TimeSpan> retention,
        DateTime now, IReadOnlySet<string>? heldTypes = null, IReadOnlySet<string>? onlyConsider = null)
    {
        var reasons = new Dictionary<string, string>(StringComparer.Ordinal);
        void Keep(RetentionItem i, string why) => reasons.TryAdd(i.Id, why);

        foreach (var i in items)
        {
            if (!retention.TryGetValue(i.Type, out var keepFor))
                Keep(i, $"no retention is set for {i.Type} backups, so they are kept");
            else if (now - i.StartTime <= keepFor)
                Keep(i, $"younger than the {i.Type} retention of {Describe(keepFor)}");
            else if (heldTypes?.Contains(i.Type) == true)
                Keep(i, $"the newest {i.Type} attempt failed: retention holds {i.Type} backups until one succeeds");
            else if (onlyConsider is not null && !onlyConsider.Contains(i.Id))
                Keep(i, "not among the backups given on the pipeline");
        }

        var fulls = items.Where(i => i.Type == Full).OrderBy(i => i.StartTime).ToList();
        if (fulls.Count > 0) Keep(fulls[^1], "the newest full backup is always kept");
        // Snapshot engines (Redis, Elasticsearch): each snapshot is whole, so only the newest must stay.
        if (items.Where(i => i.Type == Snapshot).MaxBy(i => i.StartTime) is { } newestSnapshot)
            Keep(newestSnapshot, "the newest snapshot is always kept");

        // Kept incrementals keep their chains; walk from the newest so a chain is marked in one pass.
        var byId = items.ToDictionary(i => i.Id, StringComparer.Ordinal);
        foreach (var inc in items.Where(i => i.Type == Incremental).OrderByDescending(i => i.StartTime))
        {
            if (!reasons.ContainsKey(inc.Id)) continue;
            for (var parent = inc.ParentId; parent is not null && byId.TryGetValue(parent, out var p); parent = p.ParentId)
                Keep(p, $"needed by the kept incremental {inc.Id}");
        }

        // Binlogs from the oldest kept backup's binlog file onward: replay from any kept backup must reach the newest.
        var keptBackups = items.Where(i => i.Type is Full or Incremental && reasons.ContainsKey(i.Id) && i.BinlogFile is not null).ToList();
        foreach (var onTimeline in keptBackups.GroupBy(i => i.Timeline))
        {
            var oldestNeeded = onTimeline.OrderBy(i => Sequence(i.BinlogFile!)).First();
            foreach (var b in items.Where(i => i.Type == Binlog && i.Timeline == onTimeline.Key && i.BinlogFile is not null && Sequence(i.BinlogFile) >= Sequence(oldestNeeded.BinlogFile!)))
                Keep(b, $"needed to roll forward from the kept backup {oldestNeeded.Id} (binlog {oldestNeeded.BinlogFile}, timeline {onTimeline.Key})");
        }

        return items.Select(i => reasons.TryGetValue(i.Id, out var why)
                ? new RetentionVerdict(i, false, why)
                : new RetentionVerdict(i, true, ExpiredReason(i, retention[i.Type], now)))
            .ToList();
    }

    private static string ExpiredReason(RetentionItem i, TimeSpan keepFor, DateTime now) =>
        $"{i.Type} backup is {Describe(now - i.StartTime)} old, past the retention of {Describe(keepFor)}, and nothing kept needs it";

    /// <summary>The number at the end of a binlog file name (mariadb-bin.000042 → 42).</summary>
    public static long Sequence(string binlogFile)
    {
        var dot = binlogFile.LastIndexOf('.');
        return dot >= 0 && long.TryParse(binlogFile.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
    }

    private static string Describe(TimeSpan span) => span.TotalDays >= 1
        ? $"{span.TotalDays:0.#} days"
        : span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hours" : $"{span.TotalMinutes:0} minutes";
}
