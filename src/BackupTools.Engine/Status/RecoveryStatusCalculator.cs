using BackupTools.Engine.Models;
using BackupTools.Engine.Platform;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// The recovery objectives, measured: for each target and model, how old the newest restorable point is (achieved
/// RPO), how long the last drill took to restore it (measured RTO) and what that becomes with today's data (projected
/// RTO), the window, the oldest full; then the same for the whole platform. Warnings: over rpo or rto, an rto that no
/// drill has measured, a platform part whose last drill is more than two weeks old. Critical: the last drill failed.
/// </summary>
public static class RecoveryStatusCalculator
{
    /// <summary>A platform part drilled longer ago than this is a Warning (the drill runs weekly).</summary>
    public static readonly TimeSpan DrillMaxAge = TimeSpan.FromDays(14);

    public static IReadOnlyList<RecoveryStatus> Compute(BackupPolicy policy, IEnumerable<TargetPolicy> targets, IEnumerable<ModelPolicy> models,
        IReadOnlyList<CatalogEntry> entries, IReadOnlyDictionary<string, (DateTime From, DateTime To)?> windows, IReadOnlyList<DrillRecord> drills, DateTime asOf)
    {
        var platform = policy.Platform;
        var list = new List<RecoveryStatus>();
        // The latest point each part can be asked for: a point-in-time engine's window end; any time for a snapshot
        // engine or a model (a later point lands on the newest one). The platform's window ends at the earliest of them.
        var askableUntil = new Dictionary<(string, string), DateTime>();
        foreach (var t in targets)
        {
            var engine = Engines.EngineRegistry.For(t);
            var own = entries.Where(e => e.Manifest.Engine == engine.Name && e.Manifest.Target == t.Name).Select(e => e.Manifest).ToList();
            DateTime? from, to, oldestFull;
            long bytesNow;
            if (engine.CanPlan)
            {
                var window = windows.TryGetValue(t.Name, out var w) ? w : null;
                (from, to) = (window?.From, window?.To);
                var fulls = own.Where(m => m.Type == "full").OrderBy(m => m.EndTime).ToList();
                oldestFull = fulls.FirstOrDefault()?.EndTime;
                // What a restore to now reads: the newest full, what was taken after it (incrementals, binary logs).
                bytesNow = fulls.LastOrDefault() is { } newest ? own.Where(m => m.EndTime >= newest.StartTime).Sum(m => m.StoredBytes) : 0;
            }
            else
            {
                var snapshots = own.OrderBy(m => m.EndTime).ToList();
                (from, to) = (snapshots.FirstOrDefault()?.EndTime, snapshots.LastOrDefault()?.EndTime);
                oldestFull = from;
                bytesNow = snapshots.LastOrDefault()?.StoredBytes ?? 0;
            }
            if (to is not null) askableUntil[("target", t.Name)] = engine.CanPlan ? to.Value : asOf;
            list.Add(Judge(policy, t.Name, "target", engine.Name, t.Rpo, t.Rto, from, to, oldestFull, bytesNow,
                platform?.Targets.Contains(t.Name, StringComparer.Ordinal) ?? false, drills, asOf));
        }
        foreach (var m in models)
        {
            var versions = ModelBackup.Summaries(policy.Repository, m.Name);
            var newestVersion = versions.FirstOrDefault();
            var checkedAt = ModelDeployments.LastBackup(policy.Repository, m.Name);
            DateTime? to = newestVersion is null ? null : checkedAt is { } c && c > newestVersion.Created ? c : newestVersion.Created;
            var oldest = versions.LastOrDefault()?.Created;
            if (to is not null) askableUntil[("model", m.Name)] = asOf;
            list.Add(Judge(policy, m.Name, "model", ModelBackup.Engine, m.Rpo, m.Rto, oldest, to, oldest, newestVersion?.RawBytes ?? 0,
                platform?.Models.Contains(m.Name, StringComparer.Ordinal) ?? false, drills, asOf));
        }
        if (platform is not null) list.Add(Whole(policy, platform, list, askableUntil, drills, asOf));
        return list;
    }

    private static RecoveryStatus Judge(BackupPolicy policy, string part, string kind, string engine, TimeSpan? rpo, TimeSpan? rto,
        DateTime? from, DateTime? to, DateTime? oldestFull, long bytesNow, bool inPlatform, IReadOnlyList<DrillRecord> drills, DateTime asOf)
    {
        // The last drill that got to this part: one that stopped before it (another part could not reach its point) says nothing about it.
        bool Mine(DrillPart p) => p.Ran && p.Part == part && p.Kind.Equals(kind, StringComparison.OrdinalIgnoreCase);
        var lastDrill = drills.LastOrDefault(d => d.Parts.Any(Mine));
        var drilled = lastDrill?.Parts.First(Mine);
        // The measured RTO comes from the last drill that restored the part and succeeded at it.
        var measured = drills.LastOrDefault(d => d.Parts.Any(p => Mine(p) && p.Succeeded && p.Restored))?.Parts.First(Mine);
        TimeSpan? lastRto = measured is null ? null : TimeSpan.FromSeconds(measured.DurationSeconds);
        TimeSpan? projected = lastRto is { } r && measured!.Bytes > 0 && bytesNow > 0 ? r * ((double)bytesNow / measured.Bytes) : lastRto;
        var status = new RecoveryStatus
        {
            Part = part, Kind = kind, Engine = engine, State = "Ok", Severity = AlertSeverity.None, Rpo = rpo, Rto = rto,
            NewestRestorablePoint = to, AchievedRpo = to is { } t ? asOf - t : null, LastDrillRto = lastRto, ProjectedRto = projected,
            RecoverableFrom = from, RecoverableTo = to, OldestFull = oldestFull, OldestFullAge = oldestFull is { } o ? asOf - o : null,
            LastDrill = lastDrill?.Started, LastDrillSucceeded = drilled?.Succeeded, LastDrillAge = lastDrill is null ? null : asOf - lastDrill.Started,
            AsOf = asOf, PolicyPath = policy.Path,
        };
        return Conclude(status, inPlatform, drilled?.Error);
    }

    private static RecoveryStatus Whole(BackupPolicy policy, PlatformPolicy platform, IReadOnlyList<RecoveryStatus> parts,
        IReadOnlyDictionary<(string, string), DateTime> askableUntil, IReadOnlyList<DrillRecord> drills, DateTime asOf)
    {
        var mine = parts.Where(p => p.Kind == "target" ? platform.Targets.Contains(p.Part) : platform.Models.Contains(p.Part)).ToList();
        var last = drills.LastOrDefault();
        var lastGood = drills.LastOrDefault(d => d.Succeeded);
        // The platform can be restored to a point every part reaches: the latest start and the earliest end of their windows.
        var known = mine.Count > 0 && mine.All(p => p.RecoverableFrom is not null && askableUntil.ContainsKey((p.Kind, p.Part)));
        DateTime? from = known ? mine.Max(p => p.RecoverableFrom) : null;
        DateTime? to = known ? mine.Min(p => askableUntil[(p.Kind, p.Part)]) : null;
        // Its freshness is its stalest part's: a restore of the whole to now brings that part from its newest point.
        DateTime? newest = known ? mine.Min(p => p.NewestRestorablePoint) : null;
        TimeSpan? lastRto = lastGood is null ? null : TimeSpan.FromSeconds(lastGood.DurationSeconds);
        // Parts run in parallel: the whole grows as its slowest part's projection does.
        var slowest = lastGood?.Parts.Where(p => p.Restored && p.Succeeded).MaxBy(p => p.DurationSeconds);
        var slowestNow = slowest is null ? null : mine.FirstOrDefault(p => p.Part == slowest.Part);
        TimeSpan? projected = lastRto is { } r && slowest is { DurationSeconds: > 0 } && slowestNow?.ProjectedRto is { } sp
            ? r + (sp - TimeSpan.FromSeconds(slowest.DurationSeconds)) : lastRto;
        var status = new RecoveryStatus
        {
            Part = "platform", Kind = "platform", State = "Ok", Severity = AlertSeverity.None, Rto = platform.Rto,
            RecoverableFrom = from, RecoverableTo = to, NewestRestorablePoint = newest, AchievedRpo = newest is { } t ? asOf - t : null,
            LastDrillRto = lastRto, ProjectedRto = projected, LastDrill = last?.Started, LastDrillSucceeded = last?.Succeeded,
            LastDrillAge = last is null ? null : asOf - last.Started, AsOf = asOf, PolicyPath = policy.Path,
        };
        // Never drilled although its parts have been backed up for longer than a drill may be old: the weekly drill
        // is not running (not scheduled, or failing before it can record itself), which must not read as Ok.
        var backedUpSince = mine.Where(p => p.OldestFull is not null).Select(p => p.OldestFull!.Value).DefaultIfEmpty(asOf).Min();
        return Conclude(status, inPlatform: true, last?.Error, last is null && asOf - backedUpSince > DrillMaxAge ? backedUpSince : null);
    }

    /// <summary>The state, severity and message from the numbers: every finding in the message, the worst one as the state.</summary>
    private static RecoveryStatus Conclude(RecoveryStatus s, bool inPlatform, string? drillError, DateTime? neverDrilledSince = null)
    {
        var findings = new List<(string State, AlertSeverity Severity, string Text)>();
        if (neverDrilledSince is { } since)
            findings.Add(("NeverDrilled", AlertSeverity.Warning,
                $"no drill has run, though its parts have been backed up since {Format(since)}; Register-BackupSchedule runs Test-Platform weekly"));
        if (inPlatform && s.LastDrillSucceeded == false)
            findings.Add(("DrillFailed", AlertSeverity.Critical, $"the last drill ({Format(s.LastDrill!.Value)}) failed{(drillError is null ? "" : $": {drillError}")}"));
        if (s.Rpo is { } rpo)
        {
            if (s.AchievedRpo is not { } achieved)
                findings.Add(("NoRestorePoint", AlertSeverity.Warning, $"nothing can be restored yet (objective: rpo {Human(rpo)})"));
            else if (achieved > rpo)
                findings.Add(("OverRpo", AlertSeverity.Warning,
                    $"achieved RPO {Human(achieved)} (newest restorable point {Format(s.NewestRestorablePoint!.Value)}) is over the objective of {Human(rpo)}"));
        }
        if (s.Rto is { } rto)
        {
            if (s.LastDrillRto is not { } measured)
                findings.Add(("Unmeasured", AlertSeverity.Warning, $"no drill has measured its restore time yet (objective: rto {Human(rto)}); run Test-Platform"));
            else if (measured > rto)
                findings.Add(("OverRto", AlertSeverity.Warning, $"the last drill took {Human(measured)}, over the objective of {Human(rto)}"));
            else if (s.ProjectedRto is { } projected && projected > rto)
                findings.Add(("OverRto", AlertSeverity.Warning,
                    $"the last drill took {Human(measured)}, but with the data as it is now a restore would take about {Human(projected)}, over the objective of {Human(rto)}"));
        }
        if (inPlatform && s.LastDrillAge is { } age && age > DrillMaxAge)
            findings.Add(("DrillOld", AlertSeverity.Warning, $"the last drill was {Human(age)} ago ({Format(s.LastDrill!.Value)}); drills run weekly (Register-BackupSchedule)"));
        if (findings.Count == 0) return s;
        var worst = findings.MaxBy(f => f.Severity);
        return s with
        {
            State = worst.State, Severity = worst.Severity,
            Message = $"{(s.Kind == "platform" ? "The platform" : $"{char.ToUpperInvariant(s.Kind[0])}{s.Kind[1..]} {s.Part}")}: {string.Join("; ", findings.Select(f => f.Text.TrimEnd('.')))}.",
        };
    }

    private static string Format(DateTime utc) => BackupStatusCalculator.Format(utc);

    internal static string Human(TimeSpan t) =>
        t.TotalDays >= 2 ? $"{t.TotalDays:0.#} days" : t.TotalHours >= 2 ? $"{t.TotalHours:0.#} h" : t.TotalSeconds >= 60 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalSeconds:0} s";
}
