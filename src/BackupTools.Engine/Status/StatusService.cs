using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>Reads the catalog and the journal once and computes every status Get-BackupStatus and Export-BackupMetric show.</summary>
public static class StatusService
{
    public static (IReadOnlyList<BackupStatus> Backups, StorageStatus Storage) Collect(BackupPolicy policy, IEnumerable<TargetPolicy> targets,
        DateTime asOf, Action<string, string>? unreadable = null)
    {
        var root = policy.Repository;
        var entries = BackupCatalog.List(root, unreadable: unreadable);
        var sets = entries.Select(e => e.Manifest).ToList();
        var journal = RunJournal.Read(root, warn => unreadable?.Invoke(Path.Combine(root, RunJournal.DirectoryName), warn));
        var setsBy = sets.ToLookup(s => (s.Engine, s.Target, s.Type));
        var attemptsBy = journal.ToLookup(j => (j.Engine, j.Target, j.Type));
        var statuses = new List<BackupStatus>();
        foreach (var target in targets)
        {
            var engine = EngineDirectory(target.Engine);
            (DateTime, DateTime)? window = null;
            BinlogTimelineStatus? timeline = null;
            if (target.Engine == TargetEngine.MariaDb)
            {
                try { window = RestorePlanner.Window(root, target.Name); }
                catch (RestoreWindowException) { }
                catch (Exception e) when (e is InvalidDataException or IOException or FormatException or RestoreChainException)
                {
                    unreadable?.Invoke(root, $"{target.Name}: the point-in-time window cannot be computed: {e.Message}");
                }
                try
                {
                    // From the sets already read: no second scan of the catalog per target.
                    var own = entries.Where(e => e.Manifest.Engine == MariaDbCatalog.Engine && e.Manifest.Target == target.Name);
                    timeline = BinlogTimelineStatus.Of(BinlogHistory.FromEntries(own, ReplaceMarkers.Times(root, target.Name)), target.Name);
                }
                catch (Exception e) when (e is InvalidDataException or IOException or FormatException)
                {
                    // One unreadable file must not blind the status of every target: this one gets a Warning saying so.
                    timeline = new BinlogTimelineStatus(null, $"{target.Name}: the binary-log history cannot be read: {e.Message}");
                }
            }
            foreach (var type in PolicyParser.BackupTypes(target.Engine))
            {
                var key = (engine, target.Name, type);
                if (!target.Schedule.ContainsKey(type) && !target.Retention.ContainsKey(type) && !setsBy[key].Any() && !attemptsBy[key].Any()) continue;
                var status = BackupStatusCalculator.Compute(target, engine, type, setsBy[key].ToList(), attemptsBy[key].ToList(),
                    policy.Alerts, asOf, window, policy.Path);
                statuses.Add(timeline is null ? status : timeline.Apply(status));
            }
        }
        var (total, free) = FileSystemSpace(root);
        var storage = StorageStatusCalculator.Compute(root, total, free, sets, journal, policy.Storage, asOf, policy.Path);
        return (statuses, storage);
    }

    /// <summary>Size and free space of the file system under the repository (its nearest existing ancestor).</summary>
    public static (long Total, long Free) FileSystemSpace(string path)
    {
        var existing = path;
        while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent) existing = parent;
        var drive = new DriveInfo(existing);
        return (drive.TotalSize, drive.AvailableFreeSpace);
    }

    public static string EngineDirectory(TargetEngine engine) => BackupCatalog.EngineOf(engine);
}
