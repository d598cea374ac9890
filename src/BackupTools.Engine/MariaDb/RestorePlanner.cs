using System.Globalization;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.MariaDb;

/// <summary>A plan and the catalog entries behind it, for the restore to read.</summary>
public sealed record PlannedRestore(RestorePlan Plan, IReadOnlyList<CatalogEntry> Chain, IReadOnlyList<CatalogEntry> Binlogs);

/// <summary>
/// Chooses what restores a target to a point in time and proves it is whole before anything is touched.
/// <para>
/// A backup B can serve T when B ended at or before T (its consistent point is earlier still) and the archived binary
/// logs run without a gap from B's binlog file to a file whose last event (the Rotate written when it was closed) is
/// at or after T: then every commit before T is in the archive. The window is the union of what each backup serves;
/// the newest backup that serves T is used, so the least binlog is replayed.
/// </para>
/// </summary>
public static class RestorePlanner
{
    /// <summary>The window the catalog can serve now; throws <see cref="RestoreWindowException"/> when there is none.</summary>
    public static (DateTime From, DateTime To) Window(string repositoryRoot, string target, IReadOnlySet<string>? without = null)
    {
        var c = Analyze(repositoryRoot, target, without);
        return (c.From, c.To);
    }

    private sealed record CatalogView(
        IReadOnlyDictionary<string, CatalogEntry> Binlogs,
        IReadOnlyList<(CatalogEntry Backup, IReadOnlyList<CatalogEntry>? Chain, BinlogCoverage Coverage)> Serving,
        IReadOnlyList<(CatalogEntry Backup, IReadOnlyList<CatalogEntry>? Chain, BinlogCoverage Coverage)> Intervals,
        DateTime From, DateTime To);

    /// <param name="without">Sets to leave out, as if removed (retention's -WhatIf asks what the window would become).</param>
    private static CatalogView Analyze(string repositoryRoot, string target, IReadOnlySet<string>? without = null)
    {
        var entries = BackupCatalog.List(repositoryRoot, MariaDbCatalog.Engine, target)
            .Where(e => without is null || !without.Contains(e.Manifest.Id)).ToList();
        var binlogs = entries.Where(e => e.Manifest.Type == MariaDbCatalog.Binlog && e.Manifest.EngineFields.ContainsKey(EngineFieldNames.BinlogFile))
            .GroupBy(e => e.Manifest.EngineFields[EngineFieldNames.BinlogFile])
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var backups = entries.Where(e => e.Manifest.Type is MariaDbCatalog.Full or MariaDbCatalog.Incremental)
            .OrderBy(e => e.Manifest.EndTime).ToList();
        if (!backups.Any(b => b.Manifest.Type == MariaDbCatalog.Full))
            throw new RestoreWindowException(
                $"Target '{target}' has no full backup in {repositoryRoot}, so nothing can be restored. Take one: Start-DbBackup -Target {target} -Type Full");
        var byId = backups.ToDictionary(b => b.Manifest.Id, StringComparer.Ordinal);
        var serving = backups.Select(b => (Backup: b, Chain: TryChain(b, byId), Coverage: Coverage(b, binlogs))).ToList();
        var intervals = serving.Where(s => s.Chain is not null && s.Coverage.Files.Count > 0 && s.Coverage.Until >= s.Backup.Manifest.EndTime).ToList();
        if (intervals.Count == 0)
            throw new RestoreWindowException(
                $"Target '{target}' has backups but no archived binary log after any of them, so no point in time can be restored yet. " +
                $"Archive them: Start-DbBackup -Target {target} -Type Binlog");
        return new CatalogView(binlogs, serving, intervals, intervals.Min(s => s.Backup.Manifest.EndTime), intervals.Max(s => s.Coverage.Until));
    }

    public static PlannedRestore Plan(string repositoryRoot, string target, DateTime pointInTime, string? policyPath = null)
    {
        var t = pointInTime.Kind == DateTimeKind.Utc ? pointInTime : pointInTime.ToUniversalTime();
        var stop = new DateTime(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        var (binlogs, serving, intervals, from, to) = Analyze(repositoryRoot, target);

        var choice = intervals.Where(s => s.Backup.Manifest.EndTime <= t && s.Coverage.Until >= stop)
            .OrderByDescending(s => s.Backup.Manifest.EndTime).FirstOrDefault();
        if (choice.Chain is null)
        {
            var window = RestoreText.Window(target, from, to);
            if (t < from) throw new RestoreWindowException($"{window}; {RestoreText.Time(t)} is before the first restorable point.");
            var before = serving.Where(s => s.Chain is not null && s.Backup.Manifest.EndTime <= t).OrderByDescending(s => s.Backup.Manifest.EndTime).FirstOrDefault();
            var archivedBeyond = binlogs.Values.Any(b => Time(b, EngineFieldNames.LastEventTime) >= stop);
            if (t > to && !archivedBeyond)
                throw new RestoreWindowException($"{window}; {RestoreText.Time(t)} is after the newest archived binary log. " +
                                                 $"To reach a later time archive the binary logs first: Start-DbBackup -Target {target} -Type Binlog");
            if (before.Chain is null)
                throw new RestoreChainException($"{window}, but not at {RestoreText.Time(t)}: no backup before it has a whole chain (a full and every incremental up to it, continuing each other's LSN).");
            throw new RestoreChainException($"{window}, but not at {RestoreText.Time(t)}: " + Gap(before.Backup, before.Coverage, binlogs));
        }

        var chain = choice.Chain!;
        var last = choice.Backup.Manifest;
        var files = new List<CatalogEntry>();
        foreach (var f in choice.Coverage.Files)
        {
            files.Add(f);
            if (Time(f, EngineFieldNames.LastEventTime) >= stop) break;
        }
        CheckPresent(chain.Concat(files));
        var warnings = new List<string>();
        foreach (var skipped in serving.Where(x => x.Chain is null && x.Backup.Manifest.EndTime > last.EndTime && x.Backup.Manifest.EndTime <= t))
            warnings.Add($"Backup {skipped.Backup.Manifest.Id} ended closer to the point in time but its chain is broken (a parent is missing or does not " +
                         $"continue its LSN); restoring from {last.Id} and replaying more binary log instead. Run Test-DbBackup on the target.");
        if (stop - last.EndTime > TimeSpan.FromHours(24))
            warnings.Add($"The last backup applied ended {(stop - last.EndTime).TotalHours:0} hours before the point in time: the restore replays " +
                         $"{files.Sum(f => f.Manifest.RawBytes) / (1 << 20)} MB of binary logs. More frequent incrementals shorten that.");
        var plan = new RestorePlan
        {
            Target = target, PointInTime = t, StopTime = stop,
            Full = BackupRecords.FromCatalog(chain[0], policyPath),
            Incrementals = chain.Skip(1).Select(e => BackupRecords.FromCatalog(e, policyPath)).ToList(),
            Binlogs = files.Select(e => BackupRecords.FromCatalog(e, policyPath)).ToList(),
            StartBinlogFile = last.EngineFields[EngineFieldNames.BinlogFile],
            StartBinlogPosition = long.Parse(last.EngineFields[EngineFieldNames.BinlogPosition], CultureInfo.InvariantCulture),
            StartGtid = last.EngineFields.GetValueOrDefault(EngineFieldNames.Gtid),
            RecoverableFrom = from, RecoverableTo = to,
            BytesToRead = chain.Concat(files).Sum(e => e.Manifest.StoredBytes),
            Warnings = warnings, Repository = repositoryRoot, PolicyPath = policyPath,
        };
        return new PlannedRestore(plan, chain, files);
    }

    /// <summary>Re-hashes every file of the plan (Get-DbRestorePlan); throws naming the first bad one.</summary>
    public static async Task VerifyChecksumsAsync(PlannedRestore planned, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        foreach (var entry in planned.Chain.Concat(planned.Binlogs))
        {
            var check = await BackupSetVerifier.CheckAsync(entry, progress, cancellationToken);
            if (!check.Good)
                throw new RestoreChainException($"Backup {entry.Manifest.Id} ({entry.Manifest.Type}) cannot be used: {check.Detail} Run Test-DbBackup on it.");
        }
    }

    /// <summary>The chain of a backup when every link is present and continues its parent's LSN; else null.</summary>
    /// <param name="byId">The full and incremental sets considered (so a set left out as removed breaks the chains through it).</param>
    private static IReadOnlyList<CatalogEntry>? TryChain(CatalogEntry backup, IReadOnlyDictionary<string, CatalogEntry> byId)
    {
        IReadOnlyList<CatalogEntry> chain;
        try { chain = MariaDbCatalog.Chain(backup, byId); }
        catch (InvalidDataException) { return null; }
        for (var i = 1; i < chain.Count; i++)
            if (chain[i].Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.FromLsn) != chain[i - 1].Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.ToLsn))
                return null;
        return chain;
    }

    private sealed record BinlogCoverage(IReadOnlyList<CatalogEntry> Files, DateTime Until);

    /// <summary>The unbroken run of archived binlog files from the backup's binlog file, and the time it reaches.</summary>
    private static BinlogCoverage Coverage(CatalogEntry backup, IReadOnlyDictionary<string, CatalogEntry> binlogs)
    {
        var files = new List<CatalogEntry>();
        var name = backup.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile);
        var until = DateTime.MinValue;
        while (name is not null && binlogs.TryGetValue(name, out var entry))
        {
            files.Add(entry);
            until = Time(entry, EngineFieldNames.LastEventTime) ?? until;
            name = NextFile(name);
        }
        return new BinlogCoverage(files, until);
    }

    private static string Gap(CatalogEntry backup, BinlogCoverage coverage, IReadOnlyDictionary<string, CatalogEntry> binlogs)
    {
        var start = backup.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile) ?? "(none)";
        var missing = coverage.Files.Count == 0 ? start : NextFile(coverage.Files[^1].Manifest.EngineFields[EngineFieldNames.BinlogFile]);
        return $"replay from backup {backup.Manifest.Id} (binlog {start}) needs binary log file {missing}, which is not in the archive" +
               (coverage.Files.Count > 0 ? $"; the archive reaches {RestoreText.Time(coverage.Until)} without it." : ".") +
               " Choose a time the window covers, or restore the missing file's backup set.";
    }

    /// <summary>Every file of every set is on disk with the size its manifest recorded (cheap; checksums come as they are read).</summary>
    private static void CheckPresent(IEnumerable<CatalogEntry> entries)
    {
        foreach (var e in entries)
        foreach (var f in e.Manifest.Files)
        {
            var path = Path.Combine(e.Path, f.Name);
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new RestoreChainException($"'{path}' of backup {e.Manifest.Id} ({e.Manifest.Type}) is missing, so the restore cannot run. Nothing was changed.");
            if (info.Length != f.StoredBytes)
                throw new RestoreChainException($"'{path}' of backup {e.Manifest.Id} has {info.Length} bytes, not the {f.StoredBytes} its manifest recorded. Nothing was changed; run Test-DbBackup.");
        }
    }

    private static string? NextFile(string name) =>
        BinlogArchiver.TrySplit(name, out var prefix, out var n, out var width)
            ? prefix + "." + (n + 1).ToString(CultureInfo.InvariantCulture).PadLeft(width, '0')
            : null;

    private static DateTime? Time(CatalogEntry entry, string key) =>
        entry.Manifest.EngineFields.TryGetValue(key, out var s)
            ? DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)
            : null;
}
