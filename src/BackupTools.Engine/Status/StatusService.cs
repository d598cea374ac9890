using BackupTools.Engine.Engines;
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
        var targetList = targets.ToList();
        targets = targetList;
        var root = policy.Repository;
        // The journal is read while the catalog is: two files' worth of parsing, on both cores.
        var journalRead = Task.Run(() => RunJournal.Read(root, warn => unreadable?.Invoke(Path.Combine(root, RunJournal.DirectoryName), warn)));
        var entries = BackupCatalog.List(root, unreadable: unreadable);
        var journal = journalRead.GetAwaiter().GetResult();
        var sets = entries.Select(e => e.Manifest).ToList();
        var setsBy = sets.ToLookup(s => (s.Engine, s.Target, s.Type));
        var attemptsBy = journal.ToLookup(j => (j.Engine, j.Target, j.Type));
        var entriesBy = entries.ToLookup(e => (e.Manifest.Engine, e.Manifest.Target));
        // Each target's own part (its window, its binlog timelines) depends on nothing of another's: in parallel.
        var perTarget = new List<BackupStatus>[targetList.Count];
        var extrasOf = new EngineStatus[targetList.Count];
        Parallel.For(0, targetList.Count, i =>
        {
            var target = targetList[i];
            var kind = Engines.EngineRegistry.For(target);
            var engine = kind.Name;
            var extras = extrasOf[i] = kind.Status(root, target, entriesBy[(engine, target.Name)].ToList());
            var list = perTarget[i] = [];
            foreach (var type in PolicyParser.BackupTypes(target.Engine))
            {
                var key = (engine, target.Name, type);
                if (!target.Schedule.ContainsKey(type) && !target.Retention.ContainsKey(type) && !setsBy[key].Any() && !attemptsBy[key].Any()) continue;
                var status = BackupStatusCalculator.Compute(target, engine, type, setsBy[key].ToList(), attemptsBy[key].ToList(),
                    policy.Alerts, asOf, extras.Window, policy.Path);
                list.Add(extras.Adjust?.Invoke(status) ?? status);
            }
        });
        var statuses = new List<BackupStatus>();
        for (var i = 0; i < targetList.Count; i++)
        {
            foreach (var problem in extrasOf[i].Problems) unreadable?.Invoke(root, problem);
            windows[targetList[i].Name] = extrasOf[i].Window;
            statuses.AddRange(perTarget[i]);
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
