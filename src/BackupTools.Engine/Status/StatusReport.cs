using System.Globalization;
using System.Net;
using System.Text;
using BackupTools.Engine.Platform;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// Get-BackupStatus -Report: one static HTML page for the weekly mail or an auditor. No server, no script, no CDN: the
/// charts are inline SVG drawn here (the repository's size over time with its projection, the recoverable window of
/// each part, the drill history), and every text is HTML-encoded, since target names and error messages come from
/// the policy and from servers.
/// </summary>
public static class StatusReport
{
    private const int Width = 760;
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Render(BackupPolicy policy, StatusSnapshot snapshot, IReadOnlyList<(DateTime Time, double Bytes)> storageSeries, DateTime asOf)
    {
        var h = new StringBuilder();
        var worst = snapshot.Backups.Select(b => b.Severity).Concat(snapshot.Recovery.Select(r => r.Severity)).Append(snapshot.Storage.Severity).Max();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>BackupTools status ")
            .Append(E(asOf.ToString("yyyy-MM-dd HH:mm 'UTC'", C))).Append("</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#1c2833;max-width:980px}h1{font-size:22px}h2{font-size:17px;margin-top:28px}")
            .Append("table{border-collapse:collapse;font-size:13px;width:100%}td,th{border-bottom:1px solid #d5d8dc;padding:4px 6px;text-align:left;vertical-align:top}")
            .Append(".None{color:#1e8449}.Warning{color:#b9770e;font-weight:600}.Critical{color:#c0392b;font-weight:700}")
            .Append("svg{background:#fbfcfc;border:1px solid #eaecee}svg text{font-size:11px;fill:#566573}.note{color:#566573;font-size:12px}")
            .Append("</style></head><body>\n");
        h.Append("<h1>BackupTools status</h1>\n<p>").Append(E($"As of {asOf:yyyy-MM-dd HH:mm:ss} UTC, policy {policy.Path}, repository {policy.Repository}. Overall: "))
            .Append(Sev(worst)).Append("</p>\n");

        h.Append("<h2>Storage</h2>\n");
        var st = snapshot.Storage;
        h.Append("<p>").Append(E($"{BackupStatusCalculator.Bytes(st.RepositoryBytes)} in the repository; {BackupStatusCalculator.Bytes(st.FreeBytes)} free of " +
                                 $"{BackupStatusCalculator.Bytes(st.TotalBytes)} ({st.FreePercent:0.#} %); growth {BackupStatusCalculator.Bytes((long)st.GrowthBytesPerDay)} a day; " +
                                 (st.DaysUntilFull is { } d ? d > 3650 ? "not full within ten years at that rate." : $"full in {d:0.#} days at that rate." : "not growing."))).Append(' ').Append(Sev(st.Severity)).Append("</p>\n");
        StorageChart(h, storageSeries, st, asOf);

        h.Append("<h2>Recoverable window</h2>\n");
        WindowChart(h, snapshot.Recovery, asOf);

        h.Append("<h2>Recovery objectives</h2>\n<table><tr><th>Part</th><th>State</th><th>Achieved RPO (objective)</th><th>Last drill RTO / projected (objective)</th><th>Oldest full</th><th>Last drill</th><th>Message</th></tr>\n");
        foreach (var r in snapshot.Recovery)
            h.Append("<tr><td>").Append(E($"{r.Part} ({r.Kind})")).Append("</td><td>").Append(Sev(r.Severity, r.State)).Append("</td><td>")
                .Append(E($"{D(r.AchievedRpo)} ({D(r.Rpo)})")).Append("</td><td>").Append(E($"{D(r.LastDrillRto)} / {D(r.ProjectedRto)} ({D(r.Rto)})"))
                .Append("</td><td>").Append(E(r.OldestFull is { } o ? $"{o:yyyy-MM-dd} ({D(r.OldestFullAge)} ago)" : "-")).Append("</td><td>")
                .Append(E(r.LastDrill is { } l ? $"{l:yyyy-MM-dd HH:mm}, {(r.LastDrillSucceeded == true ? "passed" : "FAILED")}" : "never"))
                .Append("</td><td>").Append(E(r.Message ?? "")).Append("</td></tr>\n");
        h.Append("</table>\n");

        h.Append("<h2>Drills</h2>\n");
        DrillChart(h, snapshot.Drills, policy.Platform?.Rto);
        h.Append("<table><tr><th>Started</th><th>Point</th><th>Result</th><th>Duration</th><th>Parts</th></tr>\n");
        foreach (var dr in snapshot.Drills.Reverse().Take(20))
            h.Append("<tr><td>").Append(E($"{dr.Started:yyyy-MM-dd HH:mm}")).Append("</td><td>").Append(E($"{dr.AsOf:yyyy-MM-dd HH:mm:ss}")).Append("</td><td>")
                .Append(dr.Succeeded ? "<span class=\"None\">passed</span>" : $"<span class=\"Critical\">failed</span> {E(dr.Error ?? "")}")
                .Append("</td><td>").Append(E($"{dr.DurationSeconds:0.0} s")).Append("</td><td>")
                .Append(E(string.Join(", ", dr.Parts.Select(p => $"{p.Part} {p.DurationSeconds:0.0} s{(p.Succeeded ? "" : " (failed)")}")))).Append("</td></tr>\n");
        h.Append("</table>\n");

        h.Append("<h2>Backups</h2>\n<table><tr><th>Target</th><th>Type</th><th>State</th><th>Last success</th><th>Size</th><th>Kept</th><th>Message</th></tr>\n");
        foreach (var b in snapshot.Backups.OrderByDescending(b => b.Severity).ThenBy(b => b.Target, StringComparer.Ordinal).ThenBy(b => b.Type, StringComparer.Ordinal))
            h.Append("<tr><td>").Append(E(b.Target)).Append("</td><td>").Append(E(b.Type)).Append("</td><td>").Append(Sev(b.Severity, b.State.ToString()))
                .Append("</td><td>").Append(E(b.LastSuccess is { } s ? $"{s:yyyy-MM-dd HH:mm}" : "never")).Append("</td><td>")
                .Append(E(b.LastSize is { } size ? BackupStatusCalculator.Bytes(size) : "-")).Append("</td><td>").Append(E($"{b.RetainedCount} ({BackupStatusCalculator.Bytes(b.RetainedBytes)})"))
                .Append("</td><td>").Append(E(b.Message ?? "")).Append("</td></tr>\n");
        h.Append("</table>\n<p class=\"note\">Written by Get-BackupStatus -Report. Times are UTC.</p>\n</body></html>\n");
        return h.ToString();
    }

    /// <summary>The repository's size over the days given, a dashed projection at the current growth, and the space left as a ceiling.</summary>
    private static void StorageChart(StringBuilder h, IReadOnlyList<(DateTime Time, double Bytes)> series, StorageStatus st, DateTime asOf)
    {
        const int H = 220, L = 70, R = 20, T = 14, B = 28;
        if (series.Count < 2) { h.Append("<p class=\"note\">No storage history yet.</p>\n"); return; }
        var ahead = TimeSpan.FromDays(7);
        var t0 = series[0].Time;
        var t1 = asOf + ahead;
        var projected = series[^1].Bytes + st.GrowthBytesPerDay * ahead.TotalDays;
        var top = Math.Max(1, Math.Max(series.Max(p => p.Bytes), projected) * 1.1);
        double X(DateTime t) => L + (Width - L - R) * (t - t0).TotalSeconds / Math.Max(1, (t1 - t0).TotalSeconds);
        double Y(double v) => T + (H - T - B) * (1 - v / top);
        h.Append($"<svg id=\"storage-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{H}\" role=\"img\" aria-label=\"Repository size over time\">\n");
        Axes(h, L, T, Width - R, H - B, $"{BackupStatusCalculator.Bytes((long)top)}", t0, t1);
        h.Append("<path class=\"series\" fill=\"none\" stroke=\"#2e86c1\" stroke-width=\"2\" d=\"")
            .Append(string.Join(" ", series.Select((p, i) => $"{(i == 0 ? 'M' : 'L')}{N(X(p.Time))},{N(Y(p.Bytes))}"))).Append("\"/>\n");
        h.Append("<path class=\"projection\" fill=\"none\" stroke=\"#2e86c1\" stroke-dasharray=\"5,4\" d=\"M")
            .Append(N(X(series[^1].Time))).Append(',').Append(N(Y(series[^1].Bytes))).Append(" L").Append(N(X(t1))).Append(',').Append(N(Y(Math.Max(0, projected)))).Append("\"/>\n");
        h.Append($"<text x=\"{L + 6}\" y=\"{T + 12}\">{E($"repository size; dashed: next 7 days at {BackupStatusCalculator.Bytes((long)st.GrowthBytesPerDay)}/day")}</text>\n</svg>\n");
    }

    /// <summary>One bar per part from the oldest to the newest point it can be restored to, on one time axis.</summary>
    private static void WindowChart(StringBuilder h, IReadOnlyList<RecoveryStatus> recovery, DateTime asOf)
    {
        var parts = recovery.Where(r => r.RecoverableFrom is not null && r.RecoverableTo is not null).ToList();
        if (parts.Count == 0) { h.Append("<p class=\"note\">Nothing can be restored yet.</p>\n"); return; }
        const int Row = 26, L = 150, R = 20, T = 10, B = 28;
        var H = T + B + Row * parts.Count;
        var t0 = parts.Min(p => p.RecoverableFrom!.Value);
        var t1 = asOf;
        double X(DateTime t) => L + (Width - L - R) * Math.Clamp((t - t0).TotalSeconds / Math.Max(1, (t1 - t0).TotalSeconds), 0, 1);
        h.Append($"<svg id=\"window-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{H}\" role=\"img\" aria-label=\"Recoverable window per part\">\n");
        Axes(h, L, T, Width - R, H - B, null, t0, t1);
        for (var i = 0; i < parts.Count; i++)
        {
            var p = parts[i];
            var y = T + i * Row + 5;
            var x0 = X(p.RecoverableFrom!.Value);
            var w = Math.Max(2, X(p.RecoverableTo!.Value) - x0);
            var colour = p.Severity switch { AlertSeverity.Critical => "#c0392b", AlertSeverity.Warning => "#d68910", _ => "#28b463" };
            h.Append($"<text x=\"6\" y=\"{y + 12}\">{E($"{p.Part} ({p.Kind})")}</text>")
                .Append($"<path class=\"bar\" fill=\"{colour}\" d=\"M{N(x0)},{y} h{N(w)} v16 h{N(-w)} Z\"><title>{E($"{p.Part}: {p.RecoverableFrom:yyyy-MM-dd HH:mm:ss} to {p.RecoverableTo:yyyy-MM-dd HH:mm:ss} UTC")}</title></path>\n");
        }
        h.Append("</svg>\n");
    }

    /// <summary>Each drill's duration as a bar (green passed, red failed), with the platform's rto as a line.</summary>
    private static void DrillChart(StringBuilder h, IReadOnlyList<DrillRecord> drills, TimeSpan? rto)
    {
        if (drills.Count == 0) { h.Append("<p class=\"note\">No drill yet: run Test-Platform (Register-BackupSchedule runs it weekly).</p>\n"); return; }
        var shown = drills.TakeLast(26).ToList();
        const int H = 200, L = 60, R = 20, T = 14, B = 28;
        var top = Math.Max(1, Math.Max(shown.Max(d => d.DurationSeconds), rto?.TotalSeconds ?? 0) * 1.15);
        var slot = (Width - L - R) / (double)shown.Count;
        double Y(double v) => T + (H - T - B) * (1 - v / top);
        h.Append($"<svg id=\"drill-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{H}\" role=\"img\" aria-label=\"Drill durations\">\n");
        Axes(h, L, T, Width - R, H - B, $"{top:0} s", shown[0].Started, shown[^1].Started);
        for (var i = 0; i < shown.Count; i++)
        {
            var d = shown[i];
            var x = L + i * slot + slot * 0.15;
            var w = Math.Max(2, slot * 0.7);
            var y = Y(d.DurationSeconds);
            h.Append($"<path class=\"bar\" fill=\"{(d.Succeeded ? "#28b463" : "#c0392b")}\" d=\"M{N(x)},{N(H - B)} V{N(Math.Min(y, H - B - 2))} h{N(w)} V{N(H - B)} Z\">")
                .Append($"<title>{E($"{d.Started:yyyy-MM-dd HH:mm}: {d.DurationSeconds:0.0} s, {(d.Succeeded ? "passed" : "failed")}")}</title></path>\n");
        }
        if (rto is { } objective)
            h.Append($"<path class=\"objective\" fill=\"none\" stroke=\"#c0392b\" stroke-dasharray=\"4,3\" d=\"M{L},{N(Y(objective.TotalSeconds))} H{Width - R}\"/>")
                .Append($"<text x=\"{L + 4}\" y=\"{N(Y(objective.TotalSeconds) - 4)}\">rto {E(RecoveryStatusCalculator.Human(objective))}</text>\n");
        h.Append("</svg>\n");
    }

    private static void Axes(StringBuilder h, int left, int top, int right, int bottom, string? topLabel, DateTime from, DateTime to)
    {
        h.Append($"<path class=\"axis\" fill=\"none\" stroke=\"#aab7b8\" d=\"M{left},{top} V{bottom} H{right}\"/>\n");
        if (topLabel is not null) h.Append($"<text x=\"4\" y=\"{top + 10}\">{E(topLabel)}</text>\n");
        h.Append($"<text x=\"{left}\" y=\"{bottom + 16}\">{E($"{from:yyyy-MM-dd HH:mm}")}</text>")
            .Append($"<text x=\"{right}\" y=\"{bottom + 16}\" text-anchor=\"end\">{E($"{to:yyyy-MM-dd HH:mm}")}</text>\n");
    }

    private static string Sev(AlertSeverity s, string? text = null) => $"<span class=\"{s}\">{E(text ?? (s == AlertSeverity.None ? "OK" : s.ToString()))}</span>";

    private static string D(TimeSpan? t) => t is { } v ? RecoveryStatusCalculator.Human(v) : "-";

    private static string N(double v) => v.ToString("0.#", C);

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
