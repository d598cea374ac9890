using BackupTools.Engine.Repository;
using BackupTools.Model;
using Cronos;

namespace BackupTools.Engine.Status;

/// <summary>
/// The state of one target's backup type, from its sets, its journal entries and its schedule, as of a given time.
/// Pure: everything it reads is passed in, so each rule is table-tested with a fixed "as of".
/// <list type="bullet">
/// <item>Failed: the newest attempt failed (Critical; a cancelled one is Warning).</item>
/// <item>Delayed: a due time of the schedule passed more than alerts.delayGrace ago with no success since (Warning).</item>
/// <item>Never: no success yet (Warning when the type is scheduled).</item>
/// <item>Ok, with an Anomaly note (Warning) when the last size is ten times off the median of the previous ones, or the
/// last duration ten times longer: a backup ten times smaller than usual often backed up nothing (healthchecks#236).</item>
/// </list>
/// Schedules are read in the machine's time zone, as cron and Task Scheduler run them.
/// </summary>
public static class BackupStatusCalculator
{
    private const int AnomalyHistory = 20, AnomalyMinimum = 5;
    private const double AnomalyFactor = 10;

    public static BackupStatus Compute(TargetPolicy target, string engine, string type, IReadOnlyList<BackupManifest> sets,
        IReadOnlyList<JournalEntry> attempts, AlertPolicy alerts, DateTime asOf, (DateTime From, DateTime To)? window,
        string? policyPath, TimeZoneInfo? scheduleZone = null)
    {
        var zone = scheduleZone ?? TimeZoneInfo.Local;
        var past = attempts.Where(a => a.Time <= asOf && a.Status is "Succeeded" or "Failed" or "Cancelled").OrderBy(a => a.Time).ToList();
        var successes = past.Where(a => a.Status == "Succeeded").ToList();
        var kept = sets.Where(s => s.StartTime <= asOf).OrderBy(s => s.StartTime).ToList();
        var newest = past.LastOrDefault();
        var lastSuccess = successes.LastOrDefault();
        var lastSuccessStart = Latest(lastSuccess is null ? null : lastSuccess.Time.AddSeconds(-lastSuccess.DurationSeconds), kept.LastOrDefault()?.StartTime);
        var lastSuccessEnd = Latest(lastSuccess?.Time, kept.LastOrDefault()?.EndTime);
        var cron = target.Schedule.TryGetValue(type, out var expression) ? CronExpression.Parse(expression) : null;
        var nextDue = cron?.GetNextOccurrence(asOf, zone);

        BackupState state;
        AlertSeverity severity;
        string? message = null;
        if (newest is not null && newest.Status != "Succeeded")
        {
            state = BackupState.Failed;
            severity = newest.Status == "Cancelled" ? AlertSeverity.Warning : AlertSeverity.Critical;
            message = $"{target.Name} {type} backup {(newest.Status == "Cancelled" ? "was cancelled" : "failed")} at {Format(newest.Time)}" +
                      (lastSuccessEnd is { } ok ? $"; last success {Format(ok)}" : "; no success yet") + $": {FirstLine(newest.Error)}";
        }
        else if (lastSuccessStart is null)
        {
            state = BackupState.Never;
            severity = cron is null ? AlertSeverity.None : AlertSeverity.Warning;
            message = $"{target.Name} has no {type} backup yet" + (cron is null ? "" : $" (scheduled {expression})");
        }
        else if (cron?.GetNextOccurrence(lastSuccessStart.Value, zone) is { } missed && asOf > missed + alerts.DelayGrace)
        {
            state = BackupState.Delayed;
            severity = AlertSeverity.Warning;
            message = $"{target.Name} {type} backup was due at {Format(missed)} (schedule {expression}) and has not succeeded since; " +
                      $"last success {Format(lastSuccessEnd!.Value)}";
        }
        else
        {
            state = BackupState.Ok;
            severity = AlertSeverity.None;
        }

        var anomaly = type == "binlog" ? null : Anomaly(successes);
        if (anomaly is not null && severity == AlertSeverity.None)
        {
            severity = AlertSeverity.Warning;
            message = $"{target.Name} {type}: {anomaly}";
        }
        return new BackupStatus
        {
            Target = target.Name, Engine = engine, Type = type, State = state, Severity = severity,
            LastSuccess = lastSuccessEnd, LastAttempt = newest?.Time, LastError = newest?.Status == "Succeeded" ? null : FirstLine(newest?.Error),
            LastDuration = lastSuccess is null ? null : TimeSpan.FromSeconds(lastSuccess.DurationSeconds),
            LastSize = lastSuccess?.StoredBytes ?? kept.LastOrDefault()?.StoredBytes,
            NextDue = nextDue, RetainedCount = kept.Count, RetainedBytes = kept.Sum(s => s.StoredBytes),
            OldestRetained = kept.FirstOrDefault()?.StartTime,
            RecoverableFrom = window?.From, RecoverableTo = window?.To, Anomaly = anomaly, Message = message, AsOf = asOf, PolicyPath = policyPath,
        };
    }

    /// <summary>The last success compared with the median of the ones before it.</summary>
    private static string? Anomaly(IReadOnlyList<JournalEntry> successes)
    {
        if (successes.Count < AnomalyMinimum + 1) return null;
        var last = successes[^1];
        var before = successes.Take(successes.Count - 1).TakeLast(AnomalyHistory).ToList();
        var size = Median(before.Select(s => (double)s.StoredBytes));
        var duration = Median(before.Select(s => s.DurationSeconds));
        if (size > 0 && last.StoredBytes * AnomalyFactor <= size)
            return $"the last backup stored {Bytes(last.StoredBytes)}, a tenth or less of the usual {Bytes((long)size)}: check that it backed up everything";
        if (size > 0 && last.StoredBytes >= size * AnomalyFactor)
            return $"the last backup stored {Bytes(last.StoredBytes)}, ten times or more the usual {Bytes((long)size)}";
        if (last.DurationSeconds >= Math.Max(60, duration * AnomalyFactor))
            return $"the last backup took {last.DurationSeconds:0} s, ten times or more the usual {duration:0} s";
        return null;
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToList();
        return v.Count == 0 ? 0 : v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }

    private static DateTime? Latest(DateTime? a, DateTime? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private static string? FirstLine(string? text) => text?.Split('\n')[0].Trim();

    internal static string Format(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Bytes in human units (KB, MB, GB), as messages show them.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KB",
        _ => $"{bytes} B",
    };
}
