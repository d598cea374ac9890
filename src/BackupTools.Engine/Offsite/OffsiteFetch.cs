using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// Brings a target's sets back from an offsite repository into a scratch repository of the same layout, decrypted and
/// checked against their manifests, manifests last: the restore then runs on it exactly as on the local repository
/// (same planner, same checks), on a host that may never have seen the local one.
/// </summary>
public static class OffsiteFetch
{
    /// <param name="needed">
    /// Given the scratch repository holding only the target's manifests, the ids of the sets the restore reads (null: all).
    /// Only those sets' files are brought; the other manifests are removed again, so the scratch holds whole sets only.
    /// </param>
    public static async Task<int> FetchTargetAsync(IRemoteStore store, EncryptionKey key, string offsiteName, string target, string scratchRoot,
        Action<string>? log, CancellationToken ct, Func<string, IReadOnlyList<CatalogEntry>, IReadOnlySet<string>?>? needed = null)
    {
        var sets = (await OffsiteCatalog.ListAsync(store, key, offsiteName, ct)).Where(e => e.Manifest.Target == target).ToList();
        var local = new List<CatalogEntry>();
        foreach (var set in sets)
        {
            var relative = set.Path[$"offsite:{offsiteName}/".Length..];
            var dir = Path.GetFullPath(Path.Combine(scratchRoot, relative));
            if (!OffsiteCopier.IsSetPath(relative) || !dir.StartsWith(Path.GetFullPath(scratchRoot) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"'{relative}' in {store.Describe} is not a set's place (engine/target/type/id); nothing is written for it.");
            FileModes.CreatePrivateDirectory(dir);
            await FetchFileAsync(store, key, $"{relative}/{BackupManifest.FileName}{OffsiteCopier.Suffix}", Path.Combine(dir, BackupManifest.FileName), null, ct);
            local.Add(new CatalogEntry(set.Manifest, dir));
        }
        var wanted = needed?.Invoke(scratchRoot, local);
        var fetched = 0;
        foreach (var set in local)
        {
            if (wanted is not null && !wanted.Contains(set.Manifest.Id))
            {
                File.Delete(Path.Combine(set.Path, BackupManifest.FileName)); // not needed: not a set here
                Directory.Delete(set.Path);
                continue;
            }
            var relative = Path.GetRelativePath(scratchRoot, set.Path).Replace('\\', '/');
            foreach (var file in set.Manifest.Files)
                await FetchFileAsync(store, key, $"{relative}/{file.Name}{OffsiteCopier.Suffix}", Path.Combine(set.Path, file.Name), file.Sha256, ct);
            log?.Invoke($"Fetched {relative} from {store.Describe}");
            fetched++;
        }
        if (wanted is not null) log?.Invoke($"Fetched {fetched} of the {local.Count} sets of {target} in {store.Describe}: those the restore reads.");
        return fetched;
    }

    internal static async Task FetchFileAsync(IRemoteStore store, EncryptionKey key, string remote, string local, string? sha, CancellationToken ct)
    {
        try { await FetchCheckedAsync(store, key, remote, local, sha, ct); }
        // Whoever notices first (our authentication, or the store client's own checksum of the download), the user hears
        // which object is damaged and what to do, not a library's words alone.
        catch (Exception e) when (e is EncryptedDataException || e.GetType().Name == "AmazonClientException" && e.Message.Contains("hash", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"'{remote}' in {store.Describe} is damaged ({e.Message}); nothing was restored from it. " +
                "Copy the set there again from a host that has it (Copy-BackupSet), or restore from another copy.", e);
        }
    }

    private static async Task FetchCheckedAsync(IRemoteStore store, EncryptionKey key, string remote, string local, string? sha, CancellationToken ct)
    {
        await using (var plain = await OffsiteRead.OpenDecryptedAsync(store, remote, key, ct))
        await using (var output = FileModes.CreatePrivateFile(local))
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var buffer = new byte[1 << 20];
            int n;
            while ((n = await plain.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), ct);
            }
            output.Flush(flushToDisk: true);
            var actual = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
            if (sha is not null && actual != sha)
                throw new InvalidDataException($"'{remote}' from {store.Describe} decrypts to SHA-256 {actual}, not the manifest's {sha}: the offsite copy is damaged; nothing was restored.");
        }
    }
}
