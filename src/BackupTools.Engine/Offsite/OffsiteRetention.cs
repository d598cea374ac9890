using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;
using BackupTools.Model;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// Retention of an offsite repository, by the same planner as locally (the newest full and snapshot always kept, a kept
/// incremental keeps its chain, binary logs from the oldest kept backup onward, so the window never gets a hole), with
/// the offsite's own rules where it has them (offsite.&lt;name&gt;.retention, model: N) and the target's elsewhere. A set
/// whose objects are still locked is kept and says until when. A set goes manifest first, so from that moment it is
/// no longer listed there, and a removal cut short leaves only unlisted objects. Model blobs go when no kept version
/// offsite and no version in the local repository names them (a copy uploading a new version's blobs is never raced).
/// The config history is kept forever.
/// </summary>
public static class OffsiteRetention
{
    public const int DefaultModelVersionsKept = 5;

    public static async Task<IReadOnlyList<RetentionDecision>> RunAsync(BackupPolicy policy, OffsitePolicy offsite, IRemoteStore store, EncryptionKey key,
        DateTime now, Func<string, string, Task<bool>> confirm, Action<string>? log, bool dryRun, CancellationToken ct, Action<string>? warn = null)
    {
        var decisions = new List<RetentionDecision>();
        var entries = await OffsiteCatalog.ListAsync(store, key, offsite.Name, ct);
        foreach (var group in entries.GroupBy(e => (e.Manifest.Engine, e.Manifest.Target)))
        {
            if (policy.FindTarget(group.Key.Target) is not { } target)
            {
                log?.Invoke($"Offsite {offsite.Name}: kept every set of {group.Key.Target}: it is not a target of this policy, so it has no retention here.");
                continue;
            }
            var retention = new Dictionary<string, TimeSpan>(target.Retention);
            foreach (var (type, keep) in offsite.Retention) retention[type] = keep;
            var list = group.ToList();
            var byId = list.ToDictionary(e => e.Manifest.Id, StringComparer.Ordinal);
            var kind = Engines.EngineRegistry.For(target);
            var verdicts = RetentionPlanner.Plan(kind.RetentionItems(policy.Repository, target.Name, list), retention, now);
            foreach (var v in verdicts.Where(v => v.Remove).OrderBy(v => v.Item.StartTime))
            {
                ct.ThrowIfCancellationRequested();
                var entry = byId[v.Item.Id];
                var relative = entry.Path[$"offsite:{offsite.Name}/".Length..];
                var manifest = $"{relative}/{BackupManifest.FileName}{OffsiteCopier.Suffix}";
                var decision = new RetentionDecision
                {
                    Target = target.Name, Engine = entry.Manifest.Engine, Type = entry.Manifest.Type, Id = entry.Manifest.Id, StartTime = entry.Manifest.StartTime,
                    Reason = v.Reason, BytesFreed = entry.Manifest.StoredBytes, Path = entry.Path,
                };
                if (await store.StatAsync(manifest, ct) is { LockedUntil: { } until } && until > now)
                {
                    log?.Invoke($"Offsite {offsite.Name}: kept {relative}: expired ({v.Reason}) but locked until {until:u}.");
                    continue;
                }
                if (!await confirm($"offsite {offsite.Name}: {target.Name} {entry.Manifest.Type} {entry.Manifest.Id}", $"Remove ({v.Reason})") || dryRun)
                {
                    decisions.Add(decision);
                    continue;
                }
                if (!await store.DeleteAsync(manifest, ct))
                {
                    log?.Invoke($"Offsite {offsite.Name}: kept {relative}: the store refuses to delete its manifest (locked).");
                    continue;
                }
                // Then everything else under the set: its files and any rotated headers beside them.
                var rest = new List<string>();
                await foreach (var n in store.ListAsync(relative + "/", ct)) rest.Add(n);
                foreach (var n in rest)
                    if (!await store.DeleteAsync(n, ct))
                        log?.Invoke($"Offsite {offsite.Name}: {n} stays until its lock ends (the set is no longer listed).");
                log?.Invoke($"Offsite {offsite.Name}: removed {relative} ({v.Reason}).");
                decisions.Add(decision with { Removed = true });
            }
        }
        decisions.AddRange(await ModelsAsync(policy, offsite, store, key, now, confirm, log, warn, dryRun, ct));
        return decisions;
    }

    private static async Task<IReadOnlyList<RetentionDecision>> ModelsAsync(BackupPolicy policy, OffsitePolicy offsite, IRemoteStore store, EncryptionKey key,
        DateTime now, Func<string, string, Task<bool>> confirm, Action<string>? log, Action<string>? warn, bool dryRun, CancellationToken ct)
    {
        var decisions = new List<RetentionDecision>();
        foreach (var name in (await OffsiteModels.ListVersionsAsync(store, key, null, ct)).Select(m => m.Name).Distinct(StringComparer.Ordinal).ToList())
        {
            // A copy of this model to this offsite waits while retention decides and removes (a -WhatIf writes no lock);
            // the versions are read under the lock, so one a copy just added is seen.
            await using var copyLock = dryRun ? null : await OffsitePacks.LockAsync(policy.Repository, offsite.Name, name, TimeSpan.FromMinutes(10), ct);
            if (!dryRun && copyLock is null)
            {
                warn?.Invoke($"Offsite {offsite.Name}: retention of model {name} skipped: a copy of it has held its lock for 10 minutes. The next run tries again.");
                continue;
            }
            var keep = offsite.ModelVersionsKept ?? policy.Models.FirstOrDefault(m => m.Name == name)?.Keep ?? DefaultModelVersionsKept;
            var versions = (await OffsiteModels.ListVersionsAsync(store, key, name, ct)).OrderByDescending(m => m.Created).ToList();
            var removed = 0;
            foreach (var old in versions.Skip(keep))
            {
                var objectName = OffsiteModels.VersionObject(old);
                if (await store.StatAsync(objectName, ct) is { LockedUntil: { } until } && until > now)
                {
                    log?.Invoke($"Offsite {offsite.Name}: kept model {old.Name} {old.Version}: beyond the {keep} kept but locked until {until:u}.");
                    continue;
                }
                var reason = $"older than the newest {keep} versions kept offsite";
                var decision = new RetentionDecision
                {
                    Target = old.Name, Engine = Models.ModelBackup.Engine, Type = "model", Id = old.Version, StartTime = old.Created, Reason = reason,
                    Path = $"offsite:{offsite.Name}/{OffsiteModels.SetName(old)}",
                };
                if (!await confirm($"offsite {offsite.Name}: model {old.Name} {old.Version}", $"Remove ({reason})") || dryRun)
                {
                    decisions.Add(decision);
                    continue;
                }
                if (!await store.DeleteAsync(objectName, ct)) continue;
                removed++;
                decisions.Add(decision with { Removed = true });
            }
            if (removed == 0) continue;
            // A local version that cannot be read may need any blob: none goes until a person looks (its versions went).
            var (local, unreadableHere) = Models.ModelBackup.ReadVersions(policy.Repository, name);
            if (unreadableHere is [var unreadable, ..])
            {
                warn?.Invoke($"Offsite {offsite.Name}: no blob or pack of model {name} was removed: the local version manifest {unreadable} cannot be read, so which blobs it needs is unknown. Run Test-AiModelBackup {name}.");
                continue;
            }
            // Blobs no kept version names, there (the versions read under the lock, less those removed) or in the local
            // repository, go; a locked one stays until its lock ends.
            var goneThere = decisions.Where(d => d.Removed && d.Engine == Models.ModelBackup.Engine && d.Target == name).Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
            var still = versions.Where(v => !goneThere.Contains(v.Version))
                .Concat(local)
                .SelectMany(m => m.Files).SelectMany(f => f.Blobs).ToHashSet(StringComparer.Ordinal);
            await foreach (var blob in OffsiteModels.ListBlobsAsync(store, name, ct, withRotatedHeaders: true))
                if (!still.Contains(blob.Sha) && !await store.DeleteAsync(blob.Name, ct))
                    log?.Invoke($"Offsite {offsite.Name}: {blob.Name} of {name} stays until its lock ends.");
            // Packs none of whose blobs a kept version names (a pack with any kept blob stays whole: offsite is not
            // repacked); a pack whose index cannot be read there is never removed.
            var listing = await OffsitePacks.ListAsync(store, key, name, null, ct);
            if (listing.Damaged.Count > 0)
                warn?.Invoke($"Offsite {offsite.Name}: the index of pack(s) {string.Join(", ", listing.Damaged)} of model {name} cannot be read there; kept. The next copy of a version that needs their blobs sends them again.");
            foreach (var (id, shas) in listing.Packs)
                if (!shas.Any(still.Contains) && !await OffsitePacks.RemoveAsync(store, name, id, now, ct))
                    log?.Invoke($"Offsite {offsite.Name}: pack {id} of {name} stays until its lock ends.");
        }
        return decisions;
    }
}
