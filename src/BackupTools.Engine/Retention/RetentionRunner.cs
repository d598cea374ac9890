using System.Globalization;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Retention;

/// <summary>What one target's retention run did.</summary>
public sealed record RetentionOutcome
{
    public required string Target { get; init; }
    public IReadOnlyList<RetentionDecision> Removed { get; init; } = [];
    public IReadOnlyList<RetentionVerdict> Kept { get; init; } = [];
    public (DateTime From, DateTime To)? WindowBefore { get; init; }
    public (DateTime From, DateTime To)? WindowAfter { get; init; }
    /// <summary>Removals that were declined (-WhatIf, or No at -Confirm): what would have gone.</summary>
    public IReadOnlyList<RetentionVerdict> Declined { get; init; } = [];
    /// <summary>Why the target was left alone this time (busy, a restore reading it), or null.</summary>
    public string? Skipped { get; init; }
}

/// <summary>
/// Applies <see cref="RetentionPlanner"/> to one target's sets on disk (and for Elasticsearch, its snapshots in the cluster), under both of the target's locks (no
/// backup runs meanwhile) and only while no restore holds a reader lease on it. Each removal is crash-safe: the set is
/// renamed to <c>&lt;id&gt;.deleting</c> (no longer listed) before it is deleted, and the journal records it.
/// </summary>
public static class RetentionRunner
{
    private static readonly TimeSpan LeftoverAge = TimeSpan.FromDays(1);

    /// <param name="confirm">Asked before each removal (ShouldProcess); false leaves the set in place.</param>
    public static async Task<RetentionOutcome> RunAsync(string repositoryRoot, TargetPolicy target, DateTime now, IReadOnlySet<string>? onlyConsider,
        Func<RetentionVerdict, Task<bool>> confirm, Action<string>? log, CancellationToken cancellationToken,
        Func<CatalogEntry, CancellationToken, Task>? removeFromServer = null, bool dryRun = false)
    {
        if (dryRun) return await PlanOnlyAsync(repositoryRoot, target, now, onlyConsider, confirm);
        var kind = Engines.EngineRegistry.For(target);
        var engine = kind.Name;
        if (TargetLock.LiveHolder(repositoryRoot, engine, target.Name, TargetLock.ReaderScope) is { } reader)
            return new RetentionOutcome
            {
                Target = target.Name,
                Skipped = $"a restore (host {reader.Host}, process {reader.ProcessId}) is reading its backups; retention waits for the next run",
            };
        // The target's main lock and every lock of its own a type runs under (MariaDB's binlog archiving): retention
        // removes sets of every type.
        var locks = new List<TargetLock>();
        try
        {
            locks.Add(TargetLock.Acquire(repositoryRoot, engine, target.Name, log));
            foreach (var scope in kind.Types.Select(kind.LockScope).OfType<string>().Distinct())
                locks.Add(TargetLock.Acquire(repositoryRoot, engine, target.Name, log, scope: scope));
        }
        catch (TargetLockedException e)
        {
            foreach (var held in locks) await held.DisposeAsync();
            return new RetentionOutcome { Target = target.Name, Skipped = e.Message };
        }
        try
        {
            RemoveLeftovers(repositoryRoot, engine, target.Name, now, log);
            var entries = BackupCatalog.List(repositoryRoot, engine, target.Name);
            var byId = entries.ToDictionary(e => e.Manifest.Id, StringComparer.Ordinal);
            var items = kind.RetentionItems(repositoryRoot, target.Name, entries);
            var verdicts = RetentionPlanner.Plan(items, target.Retention, now, HeldTypes(repositoryRoot, engine, target.Name), onlyConsider);
            var before = kind.RecoverableWindow(repositoryRoot, target.Name, null);

            var removed = new List<RetentionDecision>();
            var declined = new List<RetentionVerdict>();
            foreach (var v in verdicts.Where(v => v.Remove).OrderBy(v => v.Item.StartTime))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entry = byId[v.Item.Id];
                if (!await confirm(v))
                {
                    declined.Add(v);
                    continue;
                }
                await RemoveAsync(repositoryRoot, entry, v.Reason, removeFromServer, cancellationToken);
                removed.Add(new RetentionDecision
                {
                    Target = target.Name, Engine = engine, Type = v.Item.Type, Id = v.Item.Id, StartTime = v.Item.StartTime,
                    Reason = v.Reason, BytesFreed = entry.Manifest.StoredBytes, Path = entry.Path, Removed = true,
                });
            }
            // Each set directory's index made again once, after all its removals (not once per set: a directory of 25,000).
            foreach (var set in removed.GroupBy(r => Path.GetDirectoryName(r.Path)).Select(g => g.First().Path!)) CatalogIndex.Published(set);
            // The window after: what is on disk now, less what -WhatIf only pretended to remove.
            var after = kind.RecoverableWindow(repositoryRoot, target.Name, declined.Select(d => d.Item.Id).ToHashSet(StringComparer.Ordinal));
            return new RetentionOutcome
            {
                Target = target.Name, Removed = removed, Declined = declined, Kept = verdicts.Where(v => !v.Remove).ToList(),
                WindowBefore = before, WindowAfter = after,
            };
        }
        finally
        {
            // Every lock is released even if releasing one fails (the main lock must never stay held and renewed).
            List<Exception>? failures = null;
            for (var i = locks.Count - 1; i >= 0; i--)
            {
                try { await locks[i].DisposeAsync(); }
                catch (Exception e) { (failures ??= []).Add(e); }
            }
            if (failures is not null) throw new AggregateException("Releasing the retention locks failed.", failures);
        }
    }

    /// <summary>-WhatIf: the same verdicts and windows, read without taking a lock, removing a leftover or writing anything.</summary>
    private static async Task<RetentionOutcome> PlanOnlyAsync(string repositoryRoot, TargetPolicy target, DateTime now, IReadOnlySet<string>? onlyConsider,
        Func<RetentionVerdict, Task<bool>> confirm)
    {
        var kind = Engines.EngineRegistry.For(target);
        var engine = kind.Name;
        var entries = BackupCatalog.List(repositoryRoot, engine, target.Name);
        var verdicts = RetentionPlanner.Plan(kind.RetentionItems(repositoryRoot, target.Name, entries), target.Retention, now,
            HeldTypes(repositoryRoot, engine, target.Name), onlyConsider);
        var declined = new List<RetentionVerdict>();
        foreach (var v in verdicts.Where(v => v.Remove).OrderBy(v => v.Item.StartTime))
        {
            await confirm(v); // prints "What if: ..." and says no
            declined.Add(v);
        }
        return new RetentionOutcome
        {
            Target = target.Name, Removed = [], Declined = declined, Kept = verdicts.Where(v => !v.Remove).ToList(),
            WindowBefore = kind.RecoverableWindow(repositoryRoot, target.Name, null),
            WindowAfter = kind.RecoverableWindow(repositoryRoot, target.Name, declined.Select(d => d.Item.Id).ToHashSet(StringComparer.Ordinal)),
        };
    }

    /// <summary>Backup types whose newest attempt in the journal did not succeed.</summary>
    private static HashSet<string> HeldTypes(string root, string engine, string target) =>
        RunJournal.Read(root)
            .Where(j => j.Engine == engine && j.Target == target && j.Status is nameof(Engines.JournalStatus.Succeeded) or nameof(Engines.JournalStatus.Failed) or nameof(Engines.JournalStatus.Cancelled))
            .GroupBy(j => j.Type)
            .Where(g => g.MaxBy(j => j.Time)!.Status != nameof(Engines.JournalStatus.Succeeded))
            .Select(g => g.Key)
            .ToHashSet();

    private static async Task RemoveAsync(string root, CatalogEntry entry, string reason,
        Func<CatalogEntry, CancellationToken, Task>? removeFromServer, CancellationToken ct)
    {
        var deleting = entry.Path + BackupCatalog.DeletingSuffix;
        Directory.Move(entry.Path, deleting); // from here on it is not listed, whatever happens next
        if (removeFromServer is not null)
        {
            // Elasticsearch: the data is a snapshot in the cluster. The set is unlisted first, so it never names a
            // snapshot that is gone; if the cluster refuses, the set is listed again and the error goes up.
            try
            {
                await removeFromServer(entry, ct);
            }
            catch
            {
                Directory.Move(deleting, entry.Path);
                throw;
            }
        }
        Directory.Delete(deleting, recursive: true);
        RunJournal.Append(root, new JournalEntry
        {
            Time = DateTime.UtcNow, Engine = entry.Manifest.Engine, Target = entry.Manifest.Target, Type = entry.Manifest.Type,
            Status = "Deleted", Id = entry.Manifest.Id, StoredBytes = entry.Manifest.StoredBytes, Error = reason,
            Host = Environment.MachineName, ProcessId = Environment.ProcessId,
        });
    }

    /// <summary>Half-deleted sets (any age: a crash mid-delete), and partial sets and scratch work older than a day.</summary>
    private static void RemoveLeftovers(string root, string engine, string target, DateTime now, Action<string>? log)
    {
        var targetDir = Path.Combine(root, engine, target);
        if (Directory.Exists(targetDir))
            foreach (var typeDir in Directory.EnumerateDirectories(targetDir))
            foreach (var dir in Directory.EnumerateDirectories(typeDir))
            {
                var leftover = dir.EndsWith(BackupCatalog.DeletingSuffix, StringComparison.Ordinal)
                    || (dir.EndsWith(BackupCatalog.PartialSuffix, StringComparison.Ordinal) && now - Directory.GetLastWriteTimeUtc(dir) > LeftoverAge);
                if (!leftover) continue;
                Directory.Delete(dir, recursive: true);
                log?.Invoke($"Removed the leftover '{dir}'.");
            }
        // Scratch directories belong to whichever run made them, of any target: only one whose owner process is gone goes.
        var scratch = Path.Combine(root, ScratchDirectory.DirectoryName);
        if (Directory.Exists(scratch))
            foreach (var dir in Directory.EnumerateDirectories(scratch).Where(d => ScratchDirectory.IsAbandoned(d, now, LeftoverAge)))
            {
                Directory.Delete(dir, recursive: true);
                log?.Invoke($"Removed the leftover scratch directory '{dir}' (the run that made it is gone).");
            }
    }

    public static string Describe((DateTime From, DateTime To)? window) => window is { } w
        ? $"{Stamps.Iso(w.From)} to {Stamps.Iso(w.To)}"
        : "(none)";
}
