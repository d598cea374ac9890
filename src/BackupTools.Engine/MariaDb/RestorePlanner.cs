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
/// at or after T: then every commit before T is in the archive. "Without a gap" is proved by GTID states on one
/// timeline (<see cref="BinlogHistory"/>): each file starts where the previous one ended; files are never taken by
/// name, and a run never continues into another timeline. The window is the union of what each backup serves;
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

    /// <summary>
    /// The window from sets the caller already listed and arranged (the status reads the catalog once for every target);
    /// <paramref name="history"/> gets the binlog stream's files added.
    /// </summary>
    public static (DateTime From, DateTime To) Window(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> listed, BinlogHistory history)
    {
        var c = Analyze(repositoryRoot, target, null, listed, history);
        return (c.From, c.To);
    }

    /// <summary>
    /// The stretches of time the catalog can serve, each on one timeline. The window (<see cref="Window"/>) runs from
    /// the first to the last, but a timeline switch before its first full backup, or a gap, leaves time between them
    /// that no restore reaches.
    /// </summary>
    /// <param name="servedBy">Only spans starting from backups this accepts (the release the tools at hand can restore).</param>
    public static IReadOnlyList<RestoreSpan> Spans(string repositoryRoot, string target, Func<BackupManifest, bool>? servedBy = null)
    {
        var spans = new List<RestoreSpan>();
        foreach (var s in Analyze(repositoryRoot, target).Intervals.Where(s => servedBy?.Invoke(s.Backup.Manifest) ?? true).OrderBy(s => s.Backup.Manifest.EndTime))
        {
            var span = new RestoreSpan(s.Backup.Manifest.EndTime, s.Coverage.Until, s.Coverage.Files[0].Timeline);
            if (spans.Count > 0 && spans[^1].Timeline == span.Timeline && span.From <= spans[^1].To)
                spans[^1] = spans[^1] with { To = span.To > spans[^1].To ? span.To : spans[^1].To };
            else spans.Add(span);
        }
        return spans;
    }

    /// <summary>A random moment that some backup can serve (Test-DbBackup -Restore), uniform over the spans' total length.</summary>
    public static DateTime RandomPoint(IReadOnlyList<RestoreSpan> spans, Random random)
    {
        var total = spans.Sum(s => (s.To - s.From).Ticks);
        var pick = (long)(random.NextDouble() * total);
        foreach (var s in spans)
        {
            var length = (s.To - s.From).Ticks;
            if (pick <= length) return s.From + TimeSpan.FromTicks(pick);
            pick -= length;
        }
        return spans[^1].To;
    }

    private sealed record CatalogView(
        BinlogHistory History,
        IReadOnlyList<Serving> All,
        IReadOnlyList<Serving> Intervals,
        DateTime From, DateTime To,
        IReadOnlyList<string> StreamProblems);

    /// <summary>A backup with its chain (null when broken) and the binlog run that rolls it forward.</summary>
    private sealed record Serving(CatalogEntry Backup, IReadOnlyList<CatalogEntry>? Chain, BinlogCoverage Coverage);

    /// <param name="without">Sets to leave out, as if removed (retention's -WhatIf asks what the window would become).</param>
    private static CatalogView Analyze(string repositoryRoot, string target, IReadOnlySet<string>? without = null, IEnumerable<CatalogEntry>? listed = null,
        BinlogHistory? arranged = null)
    {
        // The stream's files first, then the catalog: a file sealed in between is then in the catalog, never in neither.
        // (Sets the caller listed were listed before this read: a file sealed since is then in neither the list nor the
        // stream's directory for this one computation, which can only make the window end earlier, never later.)
        var streamed = StreamedBinlogs.Read(repositoryRoot, target, out var streamProblems);
        // One scan of the catalog serves both the binlog history and the backups.
        var entries = (listed ?? BackupCatalog.List(repositoryRoot, MariaDbCatalog.Engine, target))
            .Where(e => without is null || !without.Contains(e.Manifest.Id)).ToList();
        var history = arranged ?? BinlogHistory.FromEntries(entries, ReplaceMarkers.Times(repositoryRoot, target));
        // The binlog stream's files not sealed yet continue the archived ones: the window ends at its last whole transaction.
        StreamedBinlogs.Place(streamed, history);
        var backups = entries.Where(e => e.Manifest.Type is MariaDbCatalog.Full or MariaDbCatalog.Incremental)
            .OrderBy(e => e.Manifest.EndTime).ToList();
        if (!backups.Any(b => b.Manifest.Type == MariaDbCatalog.Full))
            throw new RestoreWindowException(
                $"Target '{target}' has no full backup in {repositoryRoot}, so nothing can be restored. Take one: Start-DbBackup -Target {target} -Type Full");
        var byId = backups.ToDictionary(b => b.Manifest.Id, StringComparer.Ordinal);
        var serving = backups.Select(b => new Serving(b, TryChain(b, byId), Coverage(b, history))).ToList();
        var intervals = serving.Where(s => s.Chain is not null && s.Coverage.Files.Count > 0 && s.Coverage.Until >= s.Backup.Manifest.EndTime).ToList();
        if (intervals.Count == 0)
            throw new RestoreWindowException(
                $"Target '{target}' has backups but no archived binary log after any of them, so no point in time can be restored yet. " +
                $"Archive them: Start-DbBackup -Target {target} -Type Binlog");
        return new CatalogView(history, serving, intervals, intervals.Min(s => s.Backup.Manifest.EndTime), intervals.Max(s => s.Coverage.Until), streamProblems);
    }

    /// <param name="checkPresent">False: plan from the manifests alone (an offsite fetch choosing which sets' files to bring).</param>
    /// <param name="latest">
    /// The latest point the repository holds (<paramref name="pointInTime"/> is ignored): the run that reaches furthest,
    /// replayed whole, through the second of its newest event.
    /// </param>
    public static PlannedRestore Plan(string repositoryRoot, string target, DateTime pointInTime, string? policyPath = null, bool checkPresent = true, bool latest = false)
    {
        var (history, serving, intervals, from, to, streamProblems) = Analyze(repositoryRoot, target);
        var t = latest ? to : pointInTime.Kind == DateTimeKind.Utc ? pointInTime : pointInTime.ToUniversalTime();
        var stop = new DateTime(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        // Latest: the events of the newest second are replayed too (the stop is the second after it).
        if (latest) stop = stop.AddSeconds(1);

        var choice = latest
            ? intervals.Where(s => s.Coverage.Until == to).OrderByDescending(s => s.Backup.Manifest.EndTime).FirstOrDefault()
            : intervals.Where(s => s.Backup.Manifest.EndTime <= t && s.Coverage.Until >= stop)
                .OrderByDescending(s => s.Backup.Manifest.EndTime).FirstOrDefault();
        if (choice is null)
        {
            var window = RestoreText.Window(target, from, to);
            if (t < from) throw new RestoreWindowException($"{window}; {RestoreText.Time(t)} is before the first restorable point.");
            var before = serving.Where(s => s.Chain is not null && s.Backup.Manifest.EndTime <= t).OrderByDescending(s => s.Backup.Manifest.EndTime).FirstOrDefault();
            var archivedBeyond = history.Logs.Any(b => b.Last >= stop);
            if (t > to && !archivedBeyond)
                throw new RestoreWindowException($"{window}; {RestoreText.Time(t)} is after the newest archived binary log (and the binlog stream's last whole transaction). " +
                                                 $"To reach a later time archive the binary logs first: Start-DbBackup -Target {target} -Type Binlog");
            if (before is null)
                throw new RestoreChainException($"{window}, but not at {RestoreText.Time(t)}: no backup before it has a whole chain (a full and every incremental up to it, continuing each other's LSN).");
            throw new RestoreChainException($"{window}, but not at {RestoreText.Time(t)}: " + Gap(before, history, stop, target));
        }

        var chain = choice.Chain!;
        var last = choice.Backup.Manifest;
        var files = new List<CatalogEntry>();
        foreach (var f in choice.Coverage.Files)
        {
            files.Add(f.Entry);
            if (f.Last >= stop && !latest) break;
        }
        if (checkPresent) CheckPresent(chain.Concat(files));
        var warnings = new List<string>(streamProblems);
        var timeline = choice.Coverage.Files[0].Timeline;
        // Strictly inside: one timeline ending and the next beginning in the same second (times are whole seconds) is no overlap.
        foreach (var other in history.Timelines().Where(tl => tl.Timeline != timeline && tl.FirstFile.First < stop && tl.LastFile.Last > stop))
            warnings.Add($"{RestoreText.Time(stop)} is also on binary log {other.Describe()} (two servers wrote at that time: a split brain after " +
                         $"a failover?). This plan restores timeline {timeline}, the history of backup {last.Id}.");
        foreach (var skipped in serving.Where(x => x.Chain is null && x.Backup.Manifest.EndTime > last.EndTime && x.Backup.Manifest.EndTime <= t))
            warnings.Add($"Backup {skipped.Backup.Manifest.Id} ended closer to the point in time but its chain is broken (a parent is missing or does not " +
                         $"continue its LSN); restoring from {last.Id} and replaying more binary log instead. Run Test-DbBackup on the target.");
        if (stop - last.EndTime > TimeSpan.FromHours(24))
            warnings.Add($"The last backup applied ended {(stop - last.EndTime).TotalHours:0} hours before the point in time: the restore replays " +
                         $"{files.Sum(f => f.Manifest.RawBytes) / (1 << 20)} MB of binary logs. More frequent incrementals shorten that.");
        var plan = new RestorePlan
        {
            Target = target, PointInTime = t, StopTime = stop, Latest = latest, StreamedBinlogs = files.Count(StreamedBinlogs.IsStreamed),
            Full = BackupRecords.FromCatalog(chain[0], policyPath),
            Incrementals = chain.Skip(1).Select(e => BackupRecords.FromCatalog(e, policyPath)).ToList(),
            Binlogs = files.Select(e => BackupRecords.FromCatalog(e, policyPath)).ToList(),
            StartBinlogFile = last.EngineFields[EngineFieldNames.BinlogFile],
            StartBinlogPosition = long.Parse(last.EngineFields[EngineFieldNames.BinlogPosition], CultureInfo.InvariantCulture),
            StartGtid = last.EngineFields.GetValueOrDefault(EngineFieldNames.Gtid),
            Timeline = timeline,
            RecoverableFrom = from, RecoverableTo = to,
            BytesToRead = chain.Concat(files).Sum(e => e.Manifest.StoredBytes),
            Warnings = warnings, Repository = repositoryRoot, PolicyPath = policyPath,
        };
        return new PlannedRestore(plan, chain, files);
    }

    /// <summary>Re-hashes every file of the plan (Get-DbRestorePlan); throws naming the first bad one.</summary>
    public static async Task VerifyChecksumsAsync(PlannedRestore planned, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        // The stream's files have no checksum yet: the restore proves its copy of them by reading their events again.
        foreach (var entry in planned.Chain.Concat(planned.Binlogs).Where(e => !StreamedBinlogs.IsStreamed(e)))
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

    private sealed record BinlogCoverage(IReadOnlyList<ArchivedBinlog> Files, DateTime Until, BinlogGap? Gap);

    /// <summary>
    /// The unbroken run of archived binlog files from the one the backup's position is in, on that file's timeline:
    /// each continuing the previous one's GTID state. The run never crosses into another timeline.
    /// </summary>
    private static BinlogCoverage Coverage(CatalogEntry backup, BinlogHistory history)
    {
        if (history.StartOf(backup.Manifest) is not { } start) return new BinlogCoverage([], DateTime.MinValue, null);
        var (run, gap) = history.RunFrom(start);
        return new BinlogCoverage(run, run[^1].Last, gap);
    }

    /// <summary>Why the newest backup before T cannot reach T: its file is not archived, its run has a gap, or T is on another timeline.</summary>
    private static string Gap(Serving backup, BinlogHistory history, DateTime stop, string target)
    {
        var m = backup.Backup.Manifest;
        var start = m.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile) ?? "(none)";
        if (backup.Coverage.Files.Count == 0)
            return $"replay from backup {m.Id} (binlog {start}) needs binary log file {start}, which is not in the archive. " +
                   "Choose a time the window covers, or restore the missing file's backup set.";
        var timeline = backup.Coverage.Files[0].Timeline;
        if (backup.Coverage.Gap is { } gap)
            return $"replay from backup {m.Id} (timeline {timeline}, binlog {start}) cannot reach it: {gap.Describe()}. " +
                   "Choose a time the window covers, or restore the missing file's backup set.";
        // The run ends whole: T lies on a later timeline that no backup before T started on.
        if (history.Timelines().FirstOrDefault(tl => tl.Timeline != timeline && tl.FirstFile.First <= stop && tl.LastFile.Last >= stop) is { } other)
            return $"{RestoreText.Time(stop)} lies on binary log {other.Describe()}, which began after a RESET MASTER, a failover or a -Replace restore; " +
                   $"timeline {timeline} of backup {m.Id} ends at {RestoreText.Time(backup.Coverage.Until)}" +
                   (backup.Coverage.Files[^1].RotatedTo is { } next ? $" (its last archived file rotated to {next}, which was never archived)" : "") +
                   $". A restore never splices two timelines: times on timeline {other.Timeline} need a full backup taken on it" +
                   (other.FirstFull is { } f ? $" before them; the first is {f.Manifest.Id}, which ended {RestoreText.Time(f.Manifest.EndTime)}." : $": Start-DbBackup -Target {target} -Type Full");
        return $"replay from backup {m.Id} (timeline {timeline}) reaches {RestoreText.Time(backup.Coverage.Until)} and no archived file of that timeline goes further. " +
               $"Archive the binary logs (Start-DbBackup -Target {target} -Type Binlog), or choose a time the window covers.";
    }

    /// <summary>Every file of every set is on disk with the size its manifest recorded (cheap; checksums come as they are read).</summary>
    private static void CheckPresent(IEnumerable<CatalogEntry> entries)
    {
        foreach (var e in entries)
        {
            if (!StreamedBinlogs.IsStreamed(e)) continue;
            var path = StreamedBinlogs.SourcePath(e);
            var info = new FileInfo(path);
            if (!info.Exists || info.Length < StreamedBinlogs.Bytes(e))
                throw new RestoreChainException($"The streamed binary log '{path}' is gone or shorter than a moment ago (sealed, or the stream restarted). Nothing was changed; run it again.");
        }
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
}
