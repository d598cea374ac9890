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
        DateTime now, Func<string, string, Task<bool>> confirm, Action<string>? log, bool dryRun, CancellationToken ct)
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
        decisions.AddRange(await ModelsAsync(policy, offsite, store, key, now, confirm, log, dryRun, ct));
        return decisions;
    }

    private static async Task<IReadOnlyList<RetentionDecision>> ModelsAsync(BackupPolicy policy, OffsitePolicy offsite, IRemoteStore store, EncryptionKey key,
        DateTime now, Func<string, string, Task<bool>> confirm, Action<string>? log, bool dryRun, CancellationToken ct)
    {
        var decisions = new List<RetentionDecision>();
        foreach (var model in (await OffsiteModels.ListVersionsAsync(store, key, null, ct)).GroupBy(m => m.Name))
        {
            var keep = offsite.ModelVersionsKept ?? policy.Models.FirstOrDefault(m => m.Name == model.Key)?.Keep ?? DefaultModelVersionsKept;
            var versions = model.OrderByDescending(m => m.Created).ToList();
            var removed = 0;
            foreach (var old in versions.Skip(keep))
            {
                var name = OffsiteModels.VersionObject(old);
                if (await store.StatAsync(name, ct) is { LockedUntil: { } until } && until > now)
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
                if (!await store.DeleteAsync(name, ct)) continue;
                removed++;
                decisions.Add(decision with { Removed = true });
            }
            if (removed == 0) continue;
            // A local version that cannot be read may need any blob: none goes until a person looks (its versions went).
            if (Models.ModelBackup.UnreadableVersions(policy.Repository, model.Key) is [var unreadable, ..])
            {
                log?.Invoke($"Offsite {offsite.Name}: no blob or pack of model {model.Key} removed: the local version manifest {unreadable} cannot be read, so which blobs it needs is unknown. Run Test-AiModelBackup {model.Key}.");
                continue;
            }
            // Blobs no kept version names, here or in the local repository, go; a locked one stays until its lock ends.
            var still = (await OffsiteModels.ListVersionsAsync(store, key, model.Key, ct))
                .Concat(Models.ModelBackup.Versions(policy.Repository, model.Key))
                .SelectMany(m => m.Files).Where(f => !f.IsLink).Select(f => f.Sha256).ToHashSet(StringComparer.Ordinal);
            await foreach (var blob in OffsiteModels.ListBlobsAsync(store, model.Key, ct, withRotatedHeaders: true))
                if (!still.Contains(blob.Sha) && !await store.DeleteAsync(blob.Name, ct))
                    log?.Invoke($"Offsite {offsite.Name}: {blob.Name} of {model.Key} stays until its lock ends.");
            // Packs none of whose blobs a kept version names (a pack with any kept blob stays whole: offsite is not repacked).
            foreach (var (id, shas) in await OffsitePacks.ListAsync(store, key, model.Key, null, ct))
                if (!shas.Any(still.Contains) && !await OffsitePacks.RemoveAsync(store, model.Key, id, ct))
                    log?.Invoke($"Offsite {offsite.Name}: pack {id} of {model.Key} stays until its lock ends.");
        }
        return decisions;
    }
}
