using System.Globalization;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// Room on the repository's file system and how fast the repository grows: the least-squares slope of its size over
/// the last 14 days, where the size at a time is every set that existed then (sets on disk from their end time,
/// removed sets from their start until the journal's Deleted entry).
/// </summary>
public static class StorageStatusCalculator
{
    public const int TrendDays = 14;

    public static StorageStatus Compute(string repositoryRoot, long totalBytes, long freeBytes, IReadOnlyList<BackupManifest> sets,
        IReadOnlyList<JournalEntry> journal, StoragePolicy storage, DateTime asOf, string? policyPath)
    {
        var series = Series(sets, journal, asOf, TrendDays);
        var slope = Slope(series.Select(p => (p.Time - asOf).TotalDays).ToList(), series.Select(p => p.Bytes).ToList());
        var freePercent = totalBytes == 0 ? 0 : Math.Round(100.0 * freeBytes / totalBytes, 1);
        var severity = freePercent < storage.CriticalFreePercent ? AlertSeverity.Critical
            : freePercent < storage.WarningFreePercent ? AlertSeverity.Warning : AlertSeverity.None;
        double? daysUntilFull = slope > 0 ? Math.Round(freeBytes / slope, 1) : null;
        return new StorageStatus
        {
            Path = repositoryRoot, TotalBytes = totalBytes, FreeBytes = freeBytes, UsedBytes = totalBytes - freeBytes,
            FreePercent = freePercent, GrowthBytesPerDay = Math.Round(slope), DaysUntilFull = daysUntilFull,
            RepositoryBytes = sets.Sum(s => s.StoredBytes), Severity = severity, AsOf = asOf, PolicyPath = policyPath,
            Message = severity == AlertSeverity.None ? null
                : $"The backup repository {repositoryRoot} has {freePercent:0.#} % free ({BackupStatusCalculator.Bytes(freeBytes)} of {BackupStatusCalculator.Bytes(totalBytes)})" +
                  (daysUntilFull is { } days ? $"; at {BackupStatusCalculator.Bytes((long)slope)} a day it is full in {days:0.#} days" : "") +
                  $"; {(severity == AlertSeverity.Critical ? "below the critical" : "below the warning")} threshold of " +
                  $"{(severity == AlertSeverity.Critical ? storage.CriticalFreePercent : storage.WarningFreePercent)} %.",
        };
    }

    /// <summary>The repository's size once a day over the last <paramref name="days"/> days up to <paramref name="asOf"/>, oldest first.</summary>
    public static IReadOnlyList<(DateTime Time, double Bytes)> Series(IReadOnlyList<BackupManifest> sets, IReadOnlyList<JournalEntry> journal, DateTime asOf, int days)
    {
        var lifetimes = sets.Select(s => (From: s.EndTime, To: DateTime.MaxValue, s.StoredBytes))
            .Concat(journal.Where(j => j.Status == "Deleted" && j.Id is not null)
                .Select(j => (From: IdTime(j.Id!) ?? j.Time, To: j.Time, j.StoredBytes)))
            .ToList();
        var series = new List<(DateTime, double)>();
        for (var d = days; d >= 0; d--)
        {
            var t = asOf.AddDays(-d);
            series.Add((t, lifetimes.Where(l => l.From <= t && t < l.To).Sum(l => (double)l.StoredBytes)));
        }
        return series;
    }

    /// <summary>Least-squares slope of y over x; 0 with fewer than two distinct x.</summary>
    internal static double Slope(IReadOnlyList<double> xs, IReadOnlyList<double> ys)
    {
        var n = xs.Count;
        if (n < 2) return 0;
        double mx = xs.Average(), my = ys.Average(), sxy = 0, sxx = 0;
        for (var i = 0; i < n; i++)
        {
            sxy += (xs[i] - mx) * (ys[i] - my);
            sxx += (xs[i] - mx) * (xs[i] - mx);
        }
        return sxx == 0 ? 0 : sxy / sxx;
    }

    /// <summary>Set ids start with their UTC start time: 20261126T020000Z-1a2b3c4d.</summary>
    private static DateTime? IdTime(string id) =>
        id.Length >= 16 && DateTime.TryParseExact(id[..16], Stamps.CompactFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t : null;
}
