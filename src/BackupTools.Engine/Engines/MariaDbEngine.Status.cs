using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;
using BackupTools.Engine.Status;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>MariaDB's part of readiness, status and retention: the restore window and the binary-log timelines.</summary>
internal sealed partial class MariaDbEngine
{
    public bool CanTestRestore => true;

    public Task ReadinessAsync(TargetPolicy target, string? secret, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct) =>
        ReadinessCheck.MariaDbAsync(target, secret, repositoryRoot, timeout, add, ct);

    // File numbers compare only within one timeline: each set carries the one it is on.
    public IReadOnlyList<RetentionItem> RetentionItems(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries)
    {
        var history = BinlogHistory.FromEntries(entries, ReplaceMarkers.Times(repositoryRoot, target));
        return entries.Select(e => EngineDefaults.Item(e) with
        {
            Timeline = e.Manifest.Type == MariaDbCatalog.Binlog ? BinlogHistory.ToArchived(e).Timeline : history.TimelineOf(e.Manifest) ?? 1,
        }).ToList();
    }

    public (DateTime From, DateTime To)? RecoverableWindow(string repositoryRoot, string target, IReadOnlySet<string>? without)
    {
        try { return RestorePlanner.Window(repositoryRoot, target, without); }
        catch (RestoreWindowException) { return null; }
    }

    public EngineStatus Status(string repositoryRoot, TargetPolicy target, IReadOnlyList<CatalogEntry> entries)
    {
        var problems = new List<string>();
        // From the sets already read, arranged into timelines once for both the timeline and the window.
        var own = entries.Where(e => e.Manifest.Engine == Name && e.Manifest.Target == target.Name).ToList();
        BinlogHistory? history = null;
        BinlogTimelineStatus? timeline;
        try
        {
            history = BinlogHistory.FromEntries(own, ReplaceMarkers.Times(repositoryRoot, target.Name));
            timeline = BinlogTimelineStatus.Of(history, target.Name);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException)
        {
            // One unreadable file must not blind the status of every target: this one gets a Warning saying so.
            timeline = new BinlogTimelineStatus(null, $"{target.Name}: the binary-log history cannot be read: {e.Message}");
        }
        (DateTime, DateTime)? window = null;
        // The window second: it adds the binlog stream's files to the history (the timeline is the archive's).
        if (history is not null)
            try { window = RestorePlanner.Window(repositoryRoot, target.Name, own, history); }
            catch (RestoreWindowException) { }
            catch (Exception e) when (e is InvalidDataException or IOException or FormatException or RestoreChainException)
            {
                problems.Add($"{target.Name}: the point-in-time window cannot be computed: {e.Message}");
            }
        return new EngineStatus(window, timeline is null ? null : timeline.Apply, problems);
    }
}
