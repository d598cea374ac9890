using BackupTools.Engine.Offsite;
using BackupTools.Model;

namespace BackupTools.Engine.Status;

/// <summary>
/// Each offsite repository's lag from the local catalog and the offsite journal: a set published here and not copied
/// there is what a lost host would lose. A failed last copy is Critical (as a failed backup); a lag past maxLag (one
/// day when the policy says nothing) a Warning.
/// </summary>
public static class OffsiteStatusCalculator
{
    public static readonly TimeSpan DefaultMaxLag = TimeSpan.FromDays(1);

    public static IReadOnlyList<OffsiteStatus> Compute(BackupPolicy policy, DateTime asOf)
    {
        var statuses = new List<OffsiteStatus>();
        foreach (var offsite in policy.Offsite)
        {
            var journal = OffsiteJournal.Read(policy.Repository, offsite.Name).Where(e => e.At <= asOf).ToList();
            var copied = journal.Where(e => e.Set is not null).Select(e => e.Set!).ToHashSet(StringComparer.Ordinal);
            var pending = new List<(DateTime Published, long Bytes)>();
            foreach (var set in OffsiteStores.SetsFor(policy, offsite, null, asOf).Where(s => s.Manifest.EndTime <= asOf))
                if (!copied.Contains(Path.GetRelativePath(policy.Repository, set.Path).Replace('\\', '/')))
                    pending.Add((set.Manifest.EndTime, set.Manifest.StoredBytes));
            foreach (var m in OffsiteStores.ModelsFor(policy, offsite, null).Where(m => m.Created <= asOf))
                if (!copied.Contains(OffsiteModels.SetName(m)))
                    pending.Add((m.Created, m.NewBytes));
            var runs = journal.Where(e => e.RunSucceeded is not null).ToList();
            var lastSuccess = runs.LastOrDefault(e => e.RunSucceeded == true)?.At;
            var lastFailure = runs.LastOrDefault(e => e.RunSucceeded == false);
            var failedLast = lastFailure is not null && (lastSuccess is null || lastFailure.At > lastSuccess);
            var oldest = pending.Count > 0 ? pending.Min(p => p.Published) : (DateTime?)null;
            var lag = oldest is { } o && asOf > o ? asOf - o : TimeSpan.Zero;
            var maxLag = offsite.MaxLag ?? DefaultMaxLag;
            var (state, severity, message) =
                failedLast ? (BackupState.Failed, AlertSeverity.Critical, $"The last copy to offsite {offsite.Name} failed at {lastFailure!.At:u}: {lastFailure.Error}")
                : lag > maxLag && lastSuccess is null ? (BackupState.Never, AlertSeverity.Warning, $"Nothing has been copied to offsite {offsite.Name}; {pending.Count} set(s) wait, the oldest since {oldest:u}. Run Copy-BackupSet -Offsite {offsite.Name}, or Register-BackupSchedule.")
                : lag > maxLag ? (BackupState.Delayed, AlertSeverity.Warning, $"Offsite {offsite.Name} is {Human(lag)} behind (maxLag {Human(maxLag)}): {pending.Count} set(s), {BackupStatusCalculator.Bytes(pending.Sum(p => p.Bytes))} not copied yet.")
                : (BackupState.Ok, AlertSeverity.None, (string?)null);
            statuses.Add(new OffsiteStatus
            {
                Offsite = offsite.Name, Kind = offsite.Kind, State = state, Severity = severity, PendingSets = pending.Count, PendingBytes = pending.Sum(p => p.Bytes),
                OldestPending = oldest, Lag = lag, MaxLag = maxLag, LastSuccess = lastSuccess, LastFailure = lastFailure?.At, LastError = failedLast ? lastFailure!.Error : null,
                Message = message, AsOf = asOf, PolicyPath = policy.Path,
            });
        }
        return statuses;
    }

    private static string Human(TimeSpan t) => t.TotalDays >= 1 ? $"{t.TotalDays:0.#} days" : t.TotalHours >= 1 ? $"{t.TotalHours:0.#} hours" : $"{t.TotalMinutes:0} minutes";
}
