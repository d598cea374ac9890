using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Models;

/// <summary>
/// Keeps the newest <c>keep</c> versions of a model (policy models.&lt;name&gt;.keep, default 5) and never the version
/// deployed at the model's path (every file's size and modification time match it; a restore sets both). A removed
/// version's manifest goes first, so it is never half there; then blobs no remaining version names are deleted.
/// </summary>
public static class ModelRetention
{
    public static async Task<IReadOnlyList<RetentionDecision>> RunAsync(string repositoryRoot, ModelPolicy model,
        Func<ModelManifest, string, Task<bool>> confirm, Action<string>? log, bool dryRun = false, Action<string>? warn = null)
    {
        var versionsDir = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, model.Name), "versions");
        if (!Directory.Exists(versionsDir)) return [];
        // -WhatIf takes no lock (a lock is a file written): confirm says no to every removal, so nothing else is written.
        await using var modelLock = dryRun ? null : TargetLock.Acquire(repositoryRoot, ModelBackup.Engine, model.Name, log);
        // A version whose manifest cannot be read still needs its blobs, and which versions are the newest is unknown:
        // removing anything now could take the only copy of a file it names. Refuse until a person looks.
        var (versions, unreadable) = ModelBackup.ReadVersions(repositoryRoot, model.Name);
        if (unreadable.Count > 0)
            throw new InvalidDataException(
                $"Retention of model {model.Name} refused: {unreadable.Count} version manifest(s) cannot be read ({string.Join(", ", unreadable.Take(3))}), " +
                "so it cannot know which blobs they need. Nothing was removed. Run Test-AiModelBackup, then restore the file from an offsite copy, " +
                "or move it out of the versions directory if that version is to be given up.");
        var deployed = versions.FirstOrDefault(v => IsDeployed(v, model.Path))?.Version;
        var removed = new List<RetentionDecision>();
        // Written before the first manifest goes, removed once the garbage is collected: a run killed in between leaves
        // it, and the next run collects even when it removes no version (else that garbage stayed until one more went).
        var pending = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, model.Name), "collect.pending");
        var collect = !dryRun && File.Exists(pending);
        foreach (var m in versions.Skip(model.Keep))
        {
            var path = ModelBackup.VersionPath(repositoryRoot, model.Name, m.Version);
            if (m.Version == deployed)
            {
                log?.Invoke($"Kept model {model.Name} version {m.Version}: it is the version deployed at {model.Path}.");
                continue;
            }
            var reason = $"model keeps the newest {model.Keep} versions; this one is older and not deployed";
            if (!await confirm(m, reason)) continue;
            if (!collect)
            {
                FileModes.WriteDurably(pending, [], FileMode.Create);
                SafeDirectory.SyncPath(Path.GetDirectoryName(pending)!); // its name on disk before any manifest goes
                collect = true;
            }
            File.Delete(path);
            removed.Add(new RetentionDecision
            {
                Target = model.Name, Engine = ModelBackup.Engine, Type = "model", Id = m.Version, StartTime = m.Created,
                Reason = reason, BytesFreed = 0, Path = path, Removed = true,
            });
        }
        if (!collect) return removed;
        // Blobs no remaining version names; the freed bytes are credited to the removed versions in order.
        var store = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, model.Name), "blobs"));
        store.RemoveLeftovers(); // a killed writer's temporary files and unindexed packs (the model's lock is held)
        // The versions read above, less those removed (no backup adds one meanwhile: it takes the same lock).
        var gone = removed.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        // As 32-byte ids, each version's list read as a stream: a million kept blobs are 40 MB here, not 200.
        var live = new HashSet<BlobId>();
        foreach (var m in versions.Where(m => !gone.Contains(m.Version)))
            foreach (var f in m.Files)
                foreach (var blob in f.Blobs)
                    if (BlobId.TryParse(blob, out var id)) live.Add(id);
        long freed = 0;
        // (No blobs directory at all when every file of every version went into packs.)
        foreach (var blob in (Directory.Exists(store.Directory) ? Directory.EnumerateFiles(store.Directory, "*", SearchOption.AllDirectories) : [])
                     .Where(b => Path.GetFileName(Path.GetDirectoryName(b)) != "tmp" && !IsLive(live, BlobStore.ShaOfFileName(Path.GetFileName(b)))).ToList())
        {
            freed += new FileInfo(blob).Length;
            File.Delete(blob);
        }
        freed += await CollectPacksAsync(store.Packs, live, log, warn);
        File.Delete(pending);
        if (removed.Count == 0)
        {
            log?.Invoke($"Model {model.Name}: collected what an interrupted retention left, {freed} bytes.");
            return removed;
        }
        removed[0] = removed[0] with { BytesFreed = freed };
        RunJournal.Append(repositoryRoot, new JournalEntry
        {
            Time = DateTime.UtcNow, Engine = ModelBackup.Engine, Target = model.Name, Type = "model", Status = "Deleted",
            Id = string.Join(",", removed.Select(r => r.Id)), StoredBytes = freed, Error = "retention: keep " + model.Keep,
            Host = Environment.MachineName, ProcessId = Environment.ProcessId,
        });
        return removed;
    }

    /// <summary>
    /// Packs whose blobs no kept version names are removed; a pack at least half of whose bytes are such blobs is
    /// repacked: its kept blobs (each read back against its SHA-256) go into a new pack that is finished and indexed
    /// before the old pack's index, then its bytes, are removed. Every kept blob is in an indexed pack at every moment,
    /// whenever a crash comes (at worst in two, which readers do not mind).
    /// </summary>
    internal static async Task<long> CollectPacksAsync(PackStore packs, IReadOnlySet<BlobId> live, Action<string>? log, Action<string>? warn = null)
    {
        long freed = 0;
        foreach (var (pack, blobs, bytes) in packs.Packs())
        {
            var kept = blobs.Where(b => IsLive(live, b.Sha256)).ToList();
            if (kept.Count == blobs.Count) continue;
            if (kept.Count == 0)
            {
                packs.Remove(pack);
                freed += bytes;
                log?.Invoke($"Removed pack {pack}: no kept version names its {blobs.Count} blobs.");
                continue;
            }
            var dead = blobs.Where(b => !IsLive(live, b.Sha256)).Sum(b => b.Blob.Length);
            if (dead * 2 < bytes) continue; // mostly kept: repacking would rewrite more than it frees
            // Sealed blobs (encryption.local) move as they are stored, into a pack of their kind; each is checked first.
            var fresh = packs.Begin(encrypted: kept[0].Blob.Encrypted);
            try
            {
                foreach (var (sha, blob) in kept)
                {
                    var stored = new byte[blob.Length];
                    await using (var s = packs.OpenPack(blob)) await s.ReadExactlyAsync(stored);
                    string read;
                    try
                    {
                        await using var plain = packs.Plain(new MemoryStream(stored, writable: false), blob);
                        read = Convert.ToHexString(await System.Security.Cryptography.SHA256.HashDataAsync(plain)).ToLowerInvariant();
                    }
                    catch (Exception e) when (e is Encryption.EncryptedDataException or ZstdSharp.ZstdException or IOException) { read = "unreadable"; }
                    if (read != sha)
                        throw new InvalidDataException($"Pack {pack} holds blob {sha} damaged; it was not repacked (Test-AiModelBackup names the versions that need it).");
                    await fresh.AddStoredAsync(sha, stored, blob.Compressed, CancellationToken.None);
                }
                SafeDirectory.Pause("model:repack-finish");
                await fresh.FinishAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is InvalidDataException or Encryption.EncryptionKeyException)
            {
                // A damaged blob in it: the pack stays as it is (the versions it removed are gone either way, and
                // the others go on); Test-AiModelBackup names the versions that need that blob.
                fresh.Dispose();
                (warn ?? log)?.Invoke(e.Message);
                continue;
            }
            catch
            {
                fresh.Dispose();
                throw;
            }
            packs.Remove(pack);
            freed += bytes - fresh.Length;
            log?.Invoke($"Repacked {pack}: its {kept.Count} kept blobs into {fresh.Id}, {blobs.Count - kept.Count} others removed.");
        }
        return freed;
    }

    /// <summary>Whether a kept version names the blob (a name that is no SHA-256 is named by none).</summary>
    private static bool IsLive(IReadOnlySet<BlobId> live, string sha256) => BlobId.TryParse(sha256, out var id) && live.Contains(id);

    private static bool IsDeployed(ModelManifest m, string directory) =>
        Directory.Exists(directory) && m.Files.Where(f => !f.Config).All(f =>
        {
            var path = Path.Combine(directory, f.Path);
            if (f.LinkTarget is { } target) return new FileInfo(path).LinkTarget == target;
            return File.Exists(path) && new FileInfo(path).Length == f.Size && File.GetLastWriteTimeUtc(path) == f.Modified;
        });
}
