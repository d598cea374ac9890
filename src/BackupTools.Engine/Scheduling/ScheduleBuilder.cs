using BackupTools.Model;

namespace BackupTools.Engine.Scheduling;

/// <summary>One job to schedule: a name of ours, a 5-field cron expression, and the PowerShell it runs.</summary>
/// <param name="Pipeline">The cmdlets the job runs, without the wrapping (module import, log header, exit code): for display.</param>
/// <param name="Continuous">Runs all the time as a service (systemd; a Task Scheduler task at startup), not on a schedule.</param>
public sealed record ScheduledJob(string Name, string? Target, string Schedule, string Script, string Pipeline, bool Continuous = false);

public sealed class ScheduleException(string message) : Exception(message);

/// <summary>
/// Turns a policy into the jobs that run it: each target's schedule entries, plus housekeeping (retention daily,
/// status and alerts every 15 minutes so delays are noticed, metrics every 5 minutes when the policy names a textfile, config files hourly, AI models hourly (a version is only
/// copied when it changed), a weekly test restore per database target, and a weekly drill of the whole platform). Every job imports the module by its full
/// path, names the policy by its full path, pipes results into Send-BackupAlert, and exits non-zero when anything
/// wrote an error, so cron mail, Task Scheduler's last result and the log all show a failed job.
/// </summary>
public static class ScheduleBuilder
{
    public const string RetentionSchedule = "30 3 * * *", StatusSchedule = "*/15 * * * *", ConfigSchedule = "0 * * * *";
    public const string ModelSchedule = "20 * * * *", TestRestoreSchedule = "0 5 * * 0", MetricsSchedule = "*/5 * * * *";
    public const string ReadinessSchedule = "10 6 * * *", OffsiteSchedule = "40 * * * *", OffsiteDrillSchedule = "30 6 * * 0";
    /// <summary>Weekly, before the per-target test restores: the whole platform restored into scratch at a random point (Test-Platform).</summary>
    public const string PlatformDrillSchedule = "0 4 * * 0";
    /// <summary>What a continuous job shows as its schedule.</summary>
    public const string ContinuousSchedule = "continuous";

    /// <summary>Refuses a value cron or /bin/sh would change: quotes, $, `, % (a newline to cron) and newlines.</summary>
    public static void CheckPassable(string what, string value)
    {
        if (value.IndexOfAny(['"', '\'', '`', '$', '%', '\n']) >= 0)
            throw new ScheduleException($"The {what} '{value}' holds a character (\" ' ` $ % or a newline) that cannot be passed safely through cron; move it to a plain path.");
    }

    public static IReadOnlyList<ScheduledJob> Build(BackupPolicy policy, string modulePath, IReadOnlyCollection<string>? targets)
    {
        foreach (var (what, value) in new[] { ("module path", modulePath), ("policy path", policy.Path), ("repository", policy.Repository), ("metrics path", policy.MetricsPath ?? "") })
            CheckPassable(what, value);
        var jobs = new List<ScheduledJob>();
        var p = $"-Policy \"{policy.Path}\"";
        foreach (var t in policy.Targets.Where(t => targets is null || targets.Contains(t.Name, StringComparer.OrdinalIgnoreCase)))
        {
            foreach (var (type, cron) in t.Schedule.OrderBy(s => s.Key, StringComparer.Ordinal))
                jobs.Add(Job($"{t.Name}-{type}", t.Name, cron,
                    $"Start-DbBackup -Target \"{t.Name}\" -Type {Capitalized(type)} -SkipIfBusy {p} | Send-BackupAlert {p}"));
            if (Engines.EngineRegistry.For(t).CanTestRestore && t.Schedule.Count > 0)
                jobs.Add(Job($"{t.Name}-test-restore", t.Name, TestRestoreSchedule,
                    $"Test-DbBackup -Target \"{t.Name}\" -Restore {p} | Send-BackupAlert {p}"));
            // stream: the binary logs streamed all the time, by a service that is restarted whenever it stops. No
            // heartbeat pings: a job that never ends would read as one that hangs; its state file is its heartbeat.
            if (t.Stream && Engines.EngineRegistry.For(t).CanStream)
                jobs.Add(new ScheduledJob($"stream-{t.Name}", t.Name, ContinuousSchedule,
                    $"$ErrorActionPreference = 'Continue'; $PSStyle.OutputRendering = 'PlainText'; Import-Module \"{modulePath}\"; $Error.Clear(); " +
                    $"\"=== $((Get-Date).ToUniversalTime().ToString('o')) stream-{t.Name}\"; " +
                    $"Start-BinlogStream -Target \"{t.Name}\" {p} | Send-BackupAlert {p}; exit [int]($Error.Count -gt 0)",
                    $"Start-BinlogStream -Target \"{t.Name}\" {p} | Send-BackupAlert {p}", Continuous: true));
        }
        if (targets is null)
        {
            // Daily, locally and then in each offsite repository (its own rules; what is locked there stays).
            jobs.Add(Job("retention", null, RetentionSchedule, $"Remove-ExpiredBackup {p} -Confirm:$false" +
                string.Concat(policy.Offsite.Select(o => $"; Remove-ExpiredBackup -Offsite \"{o.Name}\" {p} -Confirm:$false"))));
            // The first status run after registering sends a test message through every channel: alerting proven
            // from the job's own environment (cron's), before anything goes wrong.
            var pending = AlertTestPending(policy.Repository);
            jobs.Add(Job("status-alerts", null, StatusSchedule,
                $"if (Test-Path -LiteralPath \"{pending}\") {{ Send-BackupAlert -Test {p}; Remove-Item -LiteralPath \"{pending}\" }}; " +
                $"Get-BackupStatus {p} | Send-BackupAlert {p}"));
            // Daily: a change on a server (binlog_format=MIXED, a revoked privilege, a shorter log expiry) alerts before a backup fails.
            if (policy.Targets.Count > 0) jobs.Add(Job("readiness", null, ReadinessSchedule, $"Test-BackupTarget -Readiness {p} | Send-BackupAlert {p}"));
            if (policy.ConfigPaths.Count > 0) jobs.Add(Job("config-files", null, ConfigSchedule, $"Backup-ConfigFile {p}"));
            // Weekly: the platform restored into scratch at a random point, each part timed (the measured RTO); a failed drill is Critical.
            if (policy.Platform is not null) jobs.Add(Job("platform-drill", null, PlatformDrillSchedule, $"Test-Platform {p} | Send-BackupAlert {p}"));
            if (policy.MetricsPath is { } metrics) jobs.Add(Job("metrics", null, MetricsSchedule, $"Export-BackupMetric -Path \"{metrics}\" {p}"));
            foreach (var m in policy.Models)
                jobs.Add(Job($"model-{m.Name}", null, ModelSchedule, $"Backup-AiModel -Name \"{m.Name}\" {p}"));
            // Hourly: every published set not yet offsite goes there; a failed copy is a Critical alert.
            foreach (var o in policy.Offsite)
            {
                jobs.Add(Job($"offsite-{o.Name}", null, OffsiteSchedule, $"Copy-BackupSet -Offsite \"{o.Name}\" {p} | Send-BackupAlert {p}"));
                // Weekly, after the local drill: each copied target restored from the offsite copy alone, as after losing the host.
                foreach (var t in policy.Targets.Where(t => Engines.EngineRegistry.For(t).CanTestRestore && t.Schedule.Count > 0
                                                           && (o.Copies is null || o.Copies.Contains(t.Name, StringComparer.OrdinalIgnoreCase))))
                    jobs.Add(Job($"offsite-{o.Name}-drill-{t.Name}", t.Name, OffsiteDrillSchedule,
                        $"Test-DbBackup -Target \"{t.Name}\" -Restore -Offsite \"{o.Name}\" {p} | Send-BackupAlert {p}"));
            }
        }
        return jobs;

        // With alerts.heartbeat, each job pings /start first and success or /fail (with the first error line) last: the
        // outside service then alarms when the pings stop, which is how a dead host is noticed. The ping's own
        // failure is a warning, so it never changes the job's exit code.
        ScheduledJob Job(string name, string? target, string cron, string pipeline) => new(name, target, cron,
            $"$ErrorActionPreference = 'Continue'; $PSStyle.OutputRendering = 'PlainText'; Import-Module \"{modulePath}\"; $Error.Clear(); " +
            $"\"=== $((Get-Date).ToUniversalTime().ToString('o')) {name}\"; " +
            (policy.Alerts.Heartbeats.Count == 0
                ? $"{pipeline}; exit [int]($Error.Count -gt 0)"
                : $"$started = Get-Date; $null = Send-BackupHeartbeat Start -Job {name} {p}; {pipeline}; $failed = $Error.Count -gt 0; " +
                  $"$null = Send-BackupHeartbeat $(if ($failed) {{ 'Fail' }} else {{ 'Success' }}) -Job {name} -Duration ((Get-Date) - $started) " +
                  $"-Message $(if ($failed) {{ [string]$Error[$Error.Count - 1] }} else {{ '' }}) {p}; exit [int]$failed"), pipeline);
    }

    /// <summary>Written by Register-BackupSchedule; the next status job sends a test alert and removes it.</summary>
    public static string AlertTestPending(string repositoryRoot) => Path.Combine(CronTable.LogDirectory(repositoryRoot), "alert-test.pending");

    private static string Capitalized(string type) => char.ToUpperInvariant(type[0]) + type[1..];
}
