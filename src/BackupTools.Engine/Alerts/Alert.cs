using BackupTools.Model;

namespace BackupTools.Engine.Alerts;

/// <summary>
/// One thing a person must hear about, or the all-clear for something they heard about. Subject is what it is about
/// (target|type, or storage|path); State is what went wrong (Failed, Delayed, …); the dedup key is both.
/// </summary>
public sealed record Alert(string Subject, string State, AlertSeverity Severity, string Title, string Text, DateTime Since)
{
    public string Key => $"{Subject}|{State}";
    public string Host { get; init; } = Environment.MachineName;
    /// <summary>An all-clear: Subject is fine again (Severity None).</summary>
    public bool IsClear => Severity == AlertSeverity.None;
}

/// <summary>Turns what the pipeline carries into alerts (or all-clears).</summary>
public static class AlertBuilder
{
    public static Alert? From(object item) => item switch
    {
        BackupStatus s => new Alert($"{s.Target}|{s.Type}", s.State.ToString() + (s.Anomaly is not null && s.State == BackupState.Ok ? "Anomaly" : ""),
            s.Severity, $"{s.Target} {s.Type}: {(s.Anomaly is not null && s.State == BackupState.Ok ? "anomaly" : s.State.ToString().ToLowerInvariant())}",
            s.Message ?? $"{s.Target} {s.Type} backups are {s.State}", s.LastAttempt ?? s.AsOf),
        StorageStatus s => new Alert($"storage|{s.Path}", s.Severity == AlertSeverity.None ? "Ok" : "LowSpace", s.Severity,
            $"backup storage {s.Path}: {s.FreePercent:0.#} % free", s.Message ?? $"{s.Path} has {s.FreePercent:0.#} % free", s.AsOf),
        BackupRecord r => new Alert($"{r.Target}|{r.Type}", r.Status == BackupOutcome.Failed ? "Failed" : "Ok",
            r.Status == BackupOutcome.Failed ? AlertSeverity.Critical : AlertSeverity.None,
            $"{r.Target} {r.Type} backup {(r.Status == BackupOutcome.Failed ? "failed" : "succeeded")}",
            r.Status == BackupOutcome.Failed ? $"{r.Target} {r.Type} backup failed at {r.StartTime:yyyy-MM-dd HH:mm}Z: {r.Error?.Split('\n')[0].Trim()}"
                                             : $"{r.Target} {r.Type} backup succeeded", r.EndTime ?? r.StartTime),
        BackupVerification v => new Alert($"{v.Target}|{v.Type}|{v.Id}", v.Status.ToString(),
            v.Status == VerificationStatus.Verified ? AlertSeverity.None : AlertSeverity.Critical,
            $"{v.Target} {v.Type} backup {v.Id} is {v.Status.ToString().ToLowerInvariant()}", $"{v.File}: {v.Detail}", DateTime.UtcNow),
        RestoreResult r => new Alert($"{r.Target}|restore-test", r.Validated ? "Ok" : "Failed", r.Validated ? AlertSeverity.None : AlertSeverity.Critical,
            $"{r.Target} test restore {(r.Validated ? "passed" : "failed")}", $"{r.Target}: restore to {r.PointInTime:u}: {r.Validation}", DateTime.UtcNow),
        ReadinessFinding f => new Alert($"{f.Target}|readiness|{f.Check}", f.Level.ToString(),
            f.Level switch { ReadinessLevel.Error => AlertSeverity.Critical, ReadinessLevel.Warning => AlertSeverity.Warning, _ => AlertSeverity.None },
            $"{f.Target} is {(f.Level == ReadinessLevel.Ok ? "ready" : "not ready")}: {f.Check}", f.Fix is null ? f.Detail : $"{f.Detail}. Fix: {f.Fix}", DateTime.UtcNow),
        // A copy that failed leaves the set on this host only: Critical, as a failed backup is.
        OffsiteCopyResult c => new Alert($"{c.Target}|offsite|{c.Offsite}", c.Status == BackupOutcome.Failed ? "Failed" : "Ok",
            c.Status == BackupOutcome.Failed ? AlertSeverity.Critical : AlertSeverity.None,
            $"{c.Target} copy to offsite {c.Offsite} {(c.Status == BackupOutcome.Failed ? "failed" : "succeeded")}",
            c.Status == BackupOutcome.Failed ? $"{c.Target} {c.Type} {c.Id} was not copied to {c.Offsite}: {c.Error?.Split('\n')[0].Trim()}"
                                             : $"{c.Target} {c.Type} {c.Id} is in {c.Offsite}", DateTime.UtcNow),
        OffsiteStatus o => new Alert($"offsite|{o.Offsite}", o.State.ToString(), o.Severity,
            $"offsite {o.Offsite}: {(o.State == BackupState.Ok ? "up to date" : o.State.ToString().ToLowerInvariant())}",
            o.Message ?? $"Offsite {o.Offsite} is within its lag ({o.PendingSets} set(s) waiting)", o.LastFailure ?? o.OldestPending ?? o.AsOf),
        // A drill that failed means the platform may not come back when it must: Critical, as a failed test restore is.
        PlatformRestoreResult d => new Alert(d.Drill ? "platform|drill" : "platform|restore", d.Succeeded ? "Ok" : "Failed", d.Succeeded ? AlertSeverity.None : AlertSeverity.Critical,
            $"platform {(d.Drill ? "drill" : "restore")} {(d.Succeeded ? "passed" : "failed")}",
            d.Succeeded ? $"The platform came back as of {d.AsOf:u} in {d.Duration.TotalSeconds:0} s ({d.Parts.Count} parts)"
                        : $"The platform {(d.Drill ? "drill" : "restore")} to {d.AsOf:u} failed: {d.Error}", d.Started + d.Duration),
        RecoveryStatus r => new Alert($"{r.Part}|recovery", r.State, r.Severity, $"{r.Part} recovery objectives: {r.State.ToLowerInvariant()}",
            r.Message ?? $"{r.Part} meets its recovery objectives", r.AsOf),
        StreamStatus st => new Alert($"{st.Target}|stream", st.State, st.Severity,
            $"{st.Target} binary-log stream: {st.State.ToLowerInvariant()}", st.Message ?? $"{st.Target}'s binary-log stream is running", st.Updated ?? st.AsOf),
        _ => null,
    };
}
