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
        var all = CollectAll(policy, targets, [], asOf, unreadable);
        return (all.Backups, all.Storage);
    }

    /// <summary>Everything Get-BackupStatus shows from one read of the catalog and the journal, with the recovery objectives of these targets and models.</summary>
    public static StatusSnapshot CollectAll(BackupPolicy policy, IEnumerable<TargetPolicy> targets, IEnumerable<ModelPolicy> models,
        DateTime asOf, Action<string, string>? unreadable = null)
    {
        var windows = new Dictionary<string, (DateTime From, DateTime To)?>(StringComparer.Ordinal);
        targets = targets.ToList();
        var root = policy.Repository;
        var entries = BackupCatalog.List(root, unreadable: unreadable);
        var sets = entries.Select(e => e.Manifest).ToList();
        var journal = RunJournal.Read(root, warn => unreadable?.Invoke(Path.Combine(root, RunJournal.DirectoryName), warn));
        var setsBy = sets.ToLookup(s => (s.Engine, s.Target, s.Type));
        var attemptsBy = journal.ToLookup(j => (j.Engine, j.Target, j.Type));
        var statuses = new List<BackupStatus>();
        foreach (var target in targets)
        {
            var kind = Engines.EngineRegistry.For(target);
            var engine = kind.Name;
            var extras = kind.Status(root, target, entries);
            foreach (var problem in extras.Problems) unreadable?.Invoke(root, problem);
            var window = extras.Window;
            windows[target.Name] = window;
            foreach (var type in PolicyParser.BackupTypes(target.Engine))
            {
                var key = (engine, target.Name, type);
                if (!target.Schedule.ContainsKey(type) && !target.Retention.ContainsKey(type) && !setsBy[key].Any() && !attemptsBy[key].Any()) continue;
                var status = BackupStatusCalculator.Compute(target, engine, type, setsBy[key].ToList(), attemptsBy[key].ToList(),
                    policy.Alerts, asOf, window, policy.Path);
                statuses.Add(extras.Adjust?.Invoke(status) ?? status);
            }
        }
        var (total, free) = FileSystemSpace(root);
        var storage = StorageStatusCalculator.Compute(root, total, free, sets, journal, policy.Storage, asOf, policy.Path);
        var drills = Platform.DrillJournal.Read(root, warn => unreadable?.Invoke(Path.Combine(root, Platform.DrillJournal.DirectoryName), warn));
        var recovery = RecoveryStatusCalculator.Compute(policy, targets, models, entries, windows, drills, asOf);
        return new StatusSnapshot(statuses, storage, recovery, drills, sets, journal);
    }

    /// <summary>The binary-log streams that report in this repository (Start-BinlogStream), each Running, Behind or Dead.</summary>
    public static IReadOnlyList<StreamStatus> Streams(BackupPolicy policy, DateTime asOf) => BinlogStreamState.Statuses(policy, asOf);

    /// <summary>Size and free space of the file system under the repository (its nearest existing ancestor).</summary>
    public static (long Total, long Free) FileSystemSpace(string path)
    {
        var existing = path;
        while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent) existing = parent;
        var drive = new DriveInfo(existing);
        return (drive.TotalSize, drive.AvailableFreeSpace);
    }

}

/// <summary>One read of the repository's state: each target's backup status, the storage, the recovery objectives, the drills.</summary>
public sealed record StatusSnapshot(IReadOnlyList<BackupStatus> Backups, StorageStatus Storage, IReadOnlyList<RecoveryStatus> Recovery,
    IReadOnlyList<Platform.DrillRecord> Drills, IReadOnlyList<BackupManifest> Sets, IReadOnlyList<JournalEntry> Journal)
{
    /// <summary>The repository's size once a day over the last <paramref name="days"/> days (the HTML report's storage chart).</summary>
    public IReadOnlyList<(DateTime Time, double Bytes)> StorageSeries(DateTime asOf, int days = 30) => StorageStatusCalculator.Series(Sets, Journal, asOf, days);
}
