using BackupTools.Engine.MariaDb;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// What a MariaDB target's binlog timelines add to its status: the timeline the archive is on now, and, after a
/// switch (RESET MASTER, a failover, a -Replace restore), a Warning on the binlog status that names it until a full
/// backup on the new timeline restores the point-in-time window. A gap inside a timeline is not handled here: the
/// archiver fails on it, so the binlog status is already Failed and Critical.
/// </summary>
public sealed record BinlogTimelineStatus(int? Timeline, string? Warning)
{
    public static BinlogTimelineStatus? Of(BinlogHistory history, string target)
    {
        var timelines = history.Timelines();
        if (timelines.Count == 0) return null;
        var newest = timelines[^1];
        if (timelines.Count == 1 || newest.FirstFull is not null) return new BinlogTimelineStatus(newest.Timeline, null);
        var previous = timelines[^2];
        var lostTail = previous.LastFile.RotatedTo is { } next ? $"; {next}, the file after its last archived one, was never archived" : "";
        return new BinlogTimelineStatus(newest.Timeline,
            $"{target}: binary logs switched to {newest.Describe()}: RESET MASTER, a failover or a -Replace restore. " +
            $"Timeline {previous.Timeline} ends at {RestoreText.Time(previous.LastFile.Last)}{lostTail}. " +
            $"Times after the switch cannot be restored until a full backup is taken on the new timeline: Start-DbBackup -Target {target} -Type Full");
    }

    public BackupStatus Apply(BackupStatus status)
    {
        var withTimeline = status with { Timeline = Timeline };
        if (Warning is null || status.Type != MariaDbCatalog.Binlog || status.Severity != AlertSeverity.None) return withTimeline;
        return withTimeline with { Severity = AlertSeverity.Warning, Message = Warning };
    }
}
