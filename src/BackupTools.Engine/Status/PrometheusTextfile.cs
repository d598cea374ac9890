using System.Globalization;
using System.Text;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// The node_exporter textfile collector format: UTF-8 without BOM, LF line endings, a trailing newline, written to a
/// temporary file in the same directory and renamed, so the collector never reads half a file (the windows_exporter
/// textfile pitfalls).
/// </summary>
public static class PrometheusTextfile
{
    public static string Render(IReadOnlyList<BackupStatus> statuses, StorageStatus storage, IReadOnlyList<OffsiteStatus>? offsite = null,
        IReadOnlyList<StreamStatus>? streams = null, IReadOnlyList<RecoveryStatus>? recovery = null, DateTime? generated = null)
    {
        var text = new StringBuilder();
        void Family(string name, string help, IEnumerable<(string Labels, double Value)> samples)
        {
            var list = samples.ToList();
            if (list.Count == 0) return;
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(" gauge\n");
            foreach (var (labels, value) in list)
                text.Append(name).Append(labels.Length == 0 ? " " : "{" + labels + "} ").Append(Number(value)).Append('\n');
        }
        string L(BackupStatus s) => $"target=\"{Escape(s.Target)}\",engine=\"{Escape(s.Engine)}\",type=\"{Escape(s.Type)}\"";

        Family("backuptools_last_success_timestamp_seconds", "Unix time of the last successful backup.",
            statuses.Where(s => s.LastSuccess is not null).Select(s => (L(s), Unix(s.LastSuccess!.Value))));
        Family("backuptools_last_duration_seconds", "Duration of the last successful backup.",
            statuses.Where(s => s.LastDuration is not null).Select(s => (L(s), s.LastDuration!.Value.TotalSeconds)));
        Family("backuptools_last_size_bytes", "Stored bytes of the last successful backup.",
            statuses.Where(s => s.LastSize is not null).Select(s => (L(s), (double)s.LastSize!.Value)));
        Family("backuptools_state", "Backup state: 0 ok, 1 delayed, 2 failed, 3 never.",
            statuses.Select(s => (L(s), (double)(int)s.State)));
        Family("backuptools_severity", "Alert severity: 0 none, 1 warning, 2 critical.",
            statuses.Select(s => (L(s), (double)(int)s.Severity)));
        Family("backuptools_retained_count", "Backup sets kept in the repository.",
            statuses.Select(s => (L(s), (double)s.RetainedCount)));
        Family("backuptools_retained_bytes", "Stored bytes of the sets kept in the repository.",
            statuses.Select(s => (L(s), (double)s.RetainedBytes)));
        var p = $"path=\"{Escape(storage.Path)}\"";
        Family("backuptools_storage_total_bytes", "Size of the file system holding the repository.", [(p, storage.TotalBytes)]);
        Family("backuptools_storage_free_bytes", "Free bytes on the file system holding the repository.", [(p, storage.FreeBytes)]);
        Family("backuptools_storage_growth_bytes_per_day", "Growth of the repository over the last 14 days (least squares).", [(p, storage.GrowthBytesPerDay)]);
        Family("backuptools_storage_days_until_full", "Days until the file system is full at the current growth; +Inf when not growing.",
            [(p, storage.DaysUntilFull ?? double.PositiveInfinity)]);
        string O(OffsiteStatus o) => $"offsite=\"{Escape(o.Offsite)}\",kind=\"{Escape(o.Kind.ToString())}\"";
        var copies = offsite ?? [];
        Family("backuptools_offsite_pending_sets", "Published sets and model versions not copied to the offsite repository yet.",
            copies.Select(o => (O(o), (double)o.PendingSets)));
        Family("backuptools_offsite_pending_bytes", "Stored bytes not copied to the offsite repository yet.",
            copies.Select(o => (O(o), (double)o.PendingBytes)));
        Family("backuptools_offsite_lag_seconds", "Age of the oldest set not copied to the offsite repository (0 when none waits).",
            copies.Select(o => (O(o), o.Lag.TotalSeconds)));
        Family("backuptools_offsite_max_lag_seconds", "The lag past which the offsite repository is a Warning (offsite.<name>.maxLag).",
            copies.Select(o => (O(o), o.MaxLag.TotalSeconds)));
        Family("backuptools_offsite_last_success_timestamp_seconds", "Unix time of the last copy run that succeeded.",
            copies.Where(o => o.LastSuccess is not null).Select(o => (O(o), Unix(o.LastSuccess!.Value))));
        Family("backuptools_offsite_severity", "Offsite alert severity: 0 none, 1 warning (lag), 2 critical (the last copy failed).",
            copies.Select(o => (O(o), (double)(int)o.Severity)));
        string S(StreamStatus st) => $"target=\"{Escape(st.Target)}\"";
        var running = streams ?? [];
        Family("backuptools_stream_up", "1 while the binary-log stream reports (Start-BinlogStream), 0 when it stopped reporting.",
            running.Select(st => (S(st), st.State == "Dead" ? 0.0 : 1.0)));
        Family("backuptools_stream_lag_seconds", "Seconds since the streamed binary log last held everything the server had written.",
            running.Select(st => (S(st), st.Lag.TotalSeconds)));
        Family("backuptools_stream_severity", "Stream alert severity: 0 none, 1 warning (behind), 2 critical (dead).",
            running.Select(st => (S(st), (double)(int)st.Severity)));
        string R(RecoveryStatus r) => $"part=\"{Escape(r.Part)}\",kind=\"{Escape(r.Kind)}\"";
        var objectives = recovery ?? [];
        Family("backuptools_recovery_window_start_timestamp_seconds", "Unix time of the oldest point a restore reaches (the recoverable window's start).",
            objectives.Where(r => r.RecoverableFrom is not null).Select(r => (R(r), Unix(r.RecoverableFrom!.Value))));
        Family("backuptools_recovery_window_end_timestamp_seconds", "Unix time of the newest point a restore reaches (the recoverable window's end).",
            objectives.Where(r => r.RecoverableTo is not null).Select(r => (R(r), Unix(r.RecoverableTo!.Value))));
        Family("backuptools_recovery_point_age_seconds", "Achieved RPO: age of the newest restorable point.",
            objectives.Where(r => r.AchievedRpo is not null).Select(r => (R(r), r.AchievedRpo!.Value.TotalSeconds)));
        Family("backuptools_recovery_rpo_objective_seconds", "The recovery point objective (rpo: in the policy).",
            objectives.Where(r => r.Rpo is not null).Select(r => (R(r), r.Rpo!.Value.TotalSeconds)));
        Family("backuptools_recovery_rto_objective_seconds", "The recovery time objective (rto: in the policy).",
            objectives.Where(r => r.Rto is not null).Select(r => (R(r), r.Rto!.Value.TotalSeconds)));
        Family("backuptools_recovery_oldest_full_timestamp_seconds", "Unix time of the oldest full backup (snapshot, model version).",
            objectives.Where(r => r.OldestFull is not null).Select(r => (R(r), Unix(r.OldestFull!.Value))));
        Family("backuptools_drill_duration_seconds", "Measured RTO: how long the last successful drill took to restore it (Test-Platform).",
            objectives.Where(r => r.LastDrillRto is not null).Select(r => (R(r), r.LastDrillRto!.Value.TotalSeconds)));
        Family("backuptools_drill_projected_duration_seconds", "The last drill's time scaled to the data a restore reads now.",
            objectives.Where(r => r.ProjectedRto is not null).Select(r => (R(r), r.ProjectedRto!.Value.TotalSeconds)));
        Family("backuptools_drill_last_timestamp_seconds", "Unix time of the last drill that included it.",
            objectives.Where(r => r.LastDrill is not null).Select(r => (R(r), Unix(r.LastDrill!.Value))));
        Family("backuptools_drill_success", "1 when the last drill that included it succeeded, 0 when it failed.",
            objectives.Where(r => r.LastDrillSucceeded is not null).Select(r => (R(r), r.LastDrillSucceeded!.Value ? 1.0 : 0.0)));
        Family("backuptools_recovery_severity", "Recovery objectives alert severity: 0 none, 1 warning (over rpo or rto, drill old), 2 critical (drill failed).",
            objectives.Select(r => (R(r), (double)(int)r.Severity)));
        Family("backuptools_storage_severity", "Storage alert severity: 0 none, 1 warning, 2 critical (free space).", [(p, (double)(int)storage.Severity)]);
        // When the file was written: a metrics job that stopped running shows as a stale time, not as old good news.
        if (generated is { } at)
            Family("backuptools_textfile_generated_timestamp_seconds", "Unix time Export-BackupMetric wrote this file.", [("", Unix(at))]);
        return text.ToString();
    }

    public static void Write(string path, string content) => PublishedFile.Write(path, content, "the metrics file");

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string Number(double v) => double.IsPositiveInfinity(v) ? "+Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double Unix(DateTime utc) => (utc - DateTime.UnixEpoch).TotalSeconds;
}
