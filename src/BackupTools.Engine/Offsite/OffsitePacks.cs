using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// A model's packs offsite: a pack goes as one object (_models/&lt;name&gt;/packs/&lt;id&gt;.pack.btenc) and its index
/// after it (&lt;id&gt;.idx.btenc), so a million small files are a few hundred uploads, not a million. A blob is there
/// when an index there names it; an index goes up only after its pack, and retention removes the index before the pack,
/// so an index there always has its pack. Pack ids are random and a pack is never changed, so an index read once is
/// kept beside the copy's state and not fetched again.
/// </summary>
internal static class OffsitePacks
{
    private static string Prefix(string model) => $"{OffsiteCatalog.ModelPrefix}{model}/packs/";
    public static string PackName(string model, string id) => $"{Prefix(model)}{id}.pack{OffsiteCopier.Suffix}";
    public static string IndexName(string model, string id) => $"{Prefix(model)}{id}.idx{OffsiteCopier.Suffix}";

    /// <summary>The packs there: the blobs each holds, and the ids whose index cannot be read there (Damaged).</summary>
    public sealed record Listing(IReadOnlyDictionary<string, IReadOnlyList<string>> Packs, IReadOnlyList<string> Damaged);

    /// <summary>
    /// The packs there and the blobs each holds, read from their indexes (decrypted; from the cache when one is
    /// given and holds it). A pack whose index cannot be read is listed as damaged: a copy sends its blobs again, a
    /// restore fails only when it needs one of them, retention never removes it. An object name that is not a pack id
    /// (32 hex digits) is an error: it would otherwise become a path when fetched.
    /// </summary>
    public static async Task<Listing> ListAsync(IRemoteStore store, EncryptionKey key, string model, string? cacheDirectory, CancellationToken ct)
    {
        var ids = new List<string>();
        var suffix = ".idx" + OffsiteCopier.Suffix;
        await foreach (var n in store.ListAsync(Prefix(model), ct))
        {
            if (!n.EndsWith(suffix, StringComparison.Ordinal)) continue;
            var id = n[Prefix(model).Length..^suffix.Length];
            if (!IsPackId(id))
                throw new InvalidDataException($"'{n}' in {store.Describe} is not a pack index this module writes (a pack id is 32 hex digits); nothing was read from it. Remove it there.");
            ids.Add(id);
        }
        var cache = cacheDirectory is null ? null : Path.Combine(cacheDirectory, "pack-indexes", model);
        var packs = new System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var damaged = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (id, token) =>
        {
            var cached = cache is null ? null : Path.Combine(cache, id + ".idx");
            byte[]? bytes = cached is not null && File.Exists(cached) ? await File.ReadAllBytesAsync(cached, token) : null;
            var blobs = bytes is null ? [] : PackStore.ParseIndex(bytes, id);
            if (blobs.Count == 0)
            {
                try
                {
                    await using var plain = await OffsiteRead.OpenDecryptedAsync(store, IndexName(model, id), key, token);
                    using var copy = new MemoryStream();
                    await plain.CopyToAsync(copy, token);
                    bytes = copy.ToArray();
                }
                catch (IOException) { bytes = []; } // EncryptedDataException included: damaged there
                blobs = PackStore.ParseIndex(bytes, id);
                if (blobs.Count == 0)
                {
                    damaged.Add(id);
                    return;
                }
                if (cached is not null)
                {
                    FileModes.CreatePrivateDirectory(Path.Combine(cacheDirectory!, "pack-indexes"));
                    FileModes.CreatePrivateDirectory(cache!);
                    try { CacheFile.Write(cached, bytes); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // read again next time
                }
            }
            packs[id] = blobs.Select(b => b.Sha256).ToList();
        });
        return new Listing(packs, damaged.Order(StringComparer.Ordinal).ToList());
    }

    private static bool IsPackId(string id) => id.Length == 32 && id.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>
    /// The lock a copy of a model's versions to one offsite and that offsite's retention of them take, so retention never
    /// decides from versions read before a copy added one (and removes a pack it reuses). Waits for the other, a
    /// version's copy at most <paramref name="wait"/>; null when the wait ran out.
    /// </summary>
    public static async Task<Repository.TargetLock?> LockAsync(string repositoryRoot, string offsite, string model, TimeSpan wait, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try { return Repository.TargetLock.Acquire(repositoryRoot, ModelBackup.Engine, model, scope: "offsite-" + offsite); }
            catch (Repository.TargetLockedException) when (clock.Elapsed < wait) { await Task.Delay(TimeSpan.FromSeconds(1), ct); }
            catch (Repository.TargetLockedException) { return null; }
        }
    }

    /// <summary>
    /// Sends one local pack, then its index. Every blob the index names is read from the pack against its SHA-256
    /// first: what leaves is what its name says, or nothing leaves.
    /// </summary>
    public static async Task<FileCopyResult> CopyAsync(PackStore packs, string id, string model, IRemoteStore store, EncryptionKey key,
        OffsiteCopyOptions options, CancellationToken ct)
    {
        if (!File.Exists(packs.IndexPath(id)))
            throw new IOException($"Pack {id} of model {model} was repacked or removed here while it was being copied (retention); the next copy sends its blobs from where they are now.");
        var blobs = PackStore.ReadIndex(packs.IndexPath(id));
        if (blobs.Count == 0)
            throw new InvalidDataException($"The index of pack {id} of model {model} cannot be read; it was not copied. Run Test-AiModelBackup {model}.");
        var content = await File.ReadAllBytesAsync(packs.PackPath(id), ct);
        foreach (var (sha, blob) in blobs)
        {
            string? read = null;
            if (blob.Offset + blob.Length <= content.Length)
                try
                {
                    // As a reader gets it: decompressed when stored compressed.
                    await using var plain = packs.Plain(new MemoryStream(content, (int)blob.Offset, (int)blob.Length, writable: false), blob);
                    read = Convert.ToHexString(await SHA256.HashDataAsync(plain, ct)).ToLowerInvariant();
                }
                catch (Exception e) when (e is ZstdSharp.ZstdException or IOException or EncryptedDataException) { }
            if (read != sha)
                throw new InvalidDataException($"Pack {id} of model {model} holds blob {sha} damaged; it was not copied. Run Test-AiModelBackup {model}.");
        }
        var packSha = Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant();
        var pack = await OffsiteCopier.CopyFileAsync(packs.PackPath(id), PackName(model, id), packSha, store, key, options, ct);
        var indexSha = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(packs.IndexPath(id), ct))).ToLowerInvariant();
        var index = await OffsiteCopier.CopyFileAsync(packs.IndexPath(id), IndexName(model, id), indexSha, store, key, options, ct);
        return new FileCopyResult(pack.Sent || index.Sent, pack.Bytes + index.Bytes, pack.Parts + index.Parts, pack.PartsResumed + index.PartsResumed);
    }

    /// <summary>Brings packs back into a repository's pack directory: each pack, then its index (as a local writer orders them).</summary>
    public static async Task FetchAsync(IRemoteStore store, EncryptionKey key, string model, IEnumerable<string> ids, PackStore into, CancellationToken ct)
    {
        FileModes.CreatePrivateDirectory(into.Directory);
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (id, token) =>
        {
            await OffsiteFetch.FetchFileAsync(store, key, PackName(model, id), into.PackPath(id), null, token);
            await OffsiteFetch.FetchFileAsync(store, key, IndexName(model, id), into.IndexPath(id), null, token);
        });
        into.Reload();
    }

    /// <summary>
    /// Removes a pack there: its index first (its blobs are then gone), then its bytes. False, touching neither, when a
    /// lock keeps either (an index removed with its pack locked would leave the pack listed by nothing, kept forever).
    /// </summary>
    public static async Task<bool> RemoveAsync(IRemoteStore store, string model, string id, DateTimeOffset now, CancellationToken ct)
    {
        foreach (var name in new[] { IndexName(model, id), PackName(model, id) })
            if (await store.StatAsync(name, ct) is { LockedUntil: { } until } && until > now) return false;
        if (!await store.DeleteAsync(IndexName(model, id), ct) || !await store.DeleteAsync(PackName(model, id), ct)) return false;
        // Headers a key rotation wrote beside them (<object>.<keyid>.rewrap) have nothing left to open.
        var rewraps = new List<string>();
        await foreach (var n in store.ListAsync($"{Prefix(model)}{id}.", ct))
            if (n.EndsWith(OffsiteRead.RewrapSuffix, StringComparison.Ordinal)) rewraps.Add(n);
        foreach (var n in rewraps) await store.DeleteAsync(n, ct);
        return true;
    }
}
