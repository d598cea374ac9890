using System.Security.Cryptography;
using System.Text.Json;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Models;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// Model versions offsite, deduplicated as locally: each distinct content is one object under its SHA-256
/// (_models/&lt;name&gt;/blobs/&lt;sha&gt;.btenc), listed once per copy so a blob already there is not sent again; the
/// version's manifest (_models/&lt;name&gt;/versions/&lt;version&gt;.json.btenc) goes after every blob it names, so a
/// version listed there always restores.
/// </summary>
public static class OffsiteModels
{
    private static string Root(string name) => $"{OffsiteCatalog.ModelPrefix}{name}/";
    /// <summary>How a version is named in the offsite journal and results.</summary>
    public static string SetName(ModelManifest m) => $"{Root(m.Name)}{m.Version}";
    private static string BlobName(string name, string sha) => $"{Root(name)}blobs/{sha}{OffsiteCopier.Suffix}";
    private static string VersionName(string name, string version) => $"{Root(name)}versions/{version}.json{OffsiteCopier.Suffix}";
    public static string VersionObject(ModelManifest m) => VersionName(m.Name, m.Version);

    /// <summary>The blobs of a model there: object name and SHA-256.</summary>
    /// <param name="withRotatedHeaders">Also the rotated headers beside them (&lt;sha&gt;.btenc.&lt;keyid&gt;.rewrap), with their blob's SHA-256.</param>
    public static async IAsyncEnumerable<(string Name, string Sha)> ListBlobsAsync(IRemoteStore store, string model,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct, bool withRotatedHeaders = false)
    {
        var prefix = $"{Root(model)}blobs/";
        await foreach (var n in store.ListAsync(prefix, ct))
        {
            if (n.EndsWith(OffsiteCopier.Suffix, StringComparison.Ordinal))
                yield return (n, n[prefix.Length..^OffsiteCopier.Suffix.Length]);
            else if (withRotatedHeaders && n.EndsWith(OffsiteRead.RewrapSuffix, StringComparison.Ordinal) && n.IndexOf(OffsiteCopier.Suffix, StringComparison.Ordinal) is > 0 and var at)
                yield return (n, n[prefix.Length..at]);
        }
    }

    public static async Task<SetCopyResult> CopyVersionAsync(string repositoryRoot, ModelManifest manifest, IRemoteStore store, EncryptionKey key,
        OffsiteCopyOptions options, Action<string>? log, CancellationToken ct)
    {
        // Plaintext of encrypted local blobs a crashed copy left on its way out: not kept a moment longer.
        if (Directory.Exists(options.StateDirectory))
            foreach (var leftover in Directory.EnumerateFiles(options.StateDirectory, "blob-*"))
                if (File.GetLastWriteTimeUtc(leftover) < DateTime.UtcNow.AddHours(-1)) File.Delete(leftover); // not another copy's, in use now
        // Retention of this offsite waits while a version is copied, and the copy while retention decides: neither
        // ever works from what it listed before the other changed it (everything there is listed under the lock).
        await using var offsiteLock = await OffsitePacks.LockAsync(repositoryRoot, options.Name ?? "offsite", manifest.Name, TimeSpan.FromMinutes(30), ct)
            ?? throw new IOException($"Model {manifest.Name}: the retention of offsite {options.Name} has held its lock for 30 minutes, so this copy did not start; the next run tries again.");
        var there = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var n in store.ListAsync($"{Root(manifest.Name)}blobs/", ct)) there.Add(n);
        var blobs = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, manifest.Name), "blobs"));
        var needed = manifest.Files.SelectMany(f => f.Blobs).Distinct().ToList();
        var remotePacks = await OffsitePacks.ListAsync(store, key, manifest.Name, options.StateDirectory, ct);
        // A pack whose index there cannot be read counts as absent: both its objects are removed (a copy would
        // otherwise pass over objects whose name, size and key are right), and its blobs are sent again.
        foreach (var id in remotePacks.Damaged)
            if (!await OffsitePacks.RemoveAsync(store, manifest.Name, id, DateTimeOffset.UtcNow, ct))
                throw new InvalidDataException($"Model {manifest.Name}: the index of pack {id} in {store.Describe} cannot be read and is locked, so it cannot be replaced; version {manifest.Version} was not copied. It can be once the lock ends.");
        var packedThere = remotePacks.Packs.Values.SelectMany(b => b).ToHashSet(StringComparer.Ordinal);
        var missing = needed.Where(sha => !there.Contains(BlobName(manifest.Name, sha)) && !packedThere.Contains(sha)).ToList();
        int sent = 0, parts = 0, resumed = 0;
        long bytes = 0;
        // A blob packed here goes in its pack, whole (each pack once): a few hundred objects for a million small files.
        // (Packs sealed by encryption.local stay here: their blobs go one object each, from their plaintext, as other
        // encrypted blobs do, so what is offsite never needs this host's local key.)
        bool InPlainPack(string sha) => blobs.IsPacked(sha) && !blobs.Packs.Locate(sha).Encrypted;
        var packsToSend = missing.Where(InPlainPack).Select(sha => blobs.Packs.Locate(sha).Pack).Distinct().ToList();
        await Parallel.ForEachAsync(packsToSend, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct }, async (id, token) =>
        {
            var r = await OffsitePacks.CopyAsync(blobs.Packs, id, manifest.Name, store, key, options, token);
            Interlocked.Add(ref sent, 2);
            Interlocked.Add(ref bytes, r.Bytes);
            Interlocked.Add(ref parts, r.Parts);
            Interlocked.Add(ref resumed, r.PartsResumed);
        });
        missing = missing.Where(sha => !InPlainPack(sha)).ToList();
        await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct }, async (sha, token) =>
        {
            FileCopyResult r;
            if (!blobs.IsEncrypted(sha) && !blobs.IsPacked(sha)) r = await OffsiteCopier.CopyFileAsync(blobs.PathOf(sha), BlobName(manifest.Name, sha), sha, store, key, options, token);
            else
            {
                // Stored encrypted here (encryption.local, in a file or a sealed pack): the offsite object is made from the
                // plaintext, so it is the same whichever way the blob is kept locally; the plaintext passes through a
                // private file of our own.
                var plain = Path.Combine(options.StateDirectory, $"blob-{Guid.NewGuid():N}");
                Repository.FileModes.CreatePrivateDirectory(options.StateDirectory);
                try
                {
                    await using (var source = blobs.OpenPlain(sha))
                    await using (var copy = Repository.FileModes.CreatePrivateFile(plain))
                        await source.CopyToAsync(copy, token);
                    // What leaves is what its name says: a damaged pack or blob is an error here, never an object that
                    // later runs take for a good copy.
                    var actual = await Repository.StreamingWriter.HashFileAsync(plain, token);
                    if (actual != sha)
                        throw new InvalidDataException($"Blob {sha} of model {manifest.Name} reads back as {actual}; it was not copied. Run Test-AiModelBackup {manifest.Name}.");
                    r = await OffsiteCopier.CopyFileAsync(plain, BlobName(manifest.Name, sha), sha, store, key, options, token);
                }
                finally { File.Delete(plain); }
            }
            Interlocked.Increment(ref sent);
            Interlocked.Add(ref bytes, r.Bytes);
            Interlocked.Add(ref parts, r.Parts);
            Interlocked.Add(ref resumed, r.PartsResumed);
        });
        // Before the version is listed there, every blob it names must be there: a loose object, or in a pack whose
        // index there reads. Otherwise the version is not copied (never a version listed there that cannot restore).
        var loose = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var (_, sha) in ListBlobsAsync(store, manifest.Name, ct)) loose.Add(sha);
        var packedNow = (await OffsitePacks.ListAsync(store, key, manifest.Name, options.StateDirectory, ct)).Packs.Values.SelectMany(b => b).ToHashSet(StringComparer.Ordinal);
        if (needed.FirstOrDefault(sha => !loose.Contains(sha) && !packedNow.Contains(sha)) is { } absent)
            throw new InvalidDataException($"Model {manifest.Name} {manifest.Version}: blob {absent} is not in {store.Describe} after the copy (neither an object nor in a readable pack index there), so the version was not listed there. Run Copy-BackupSet again; if it repeats, run Test-AiModelBackup {manifest.Name}.");
        var versionPath = ModelBackup.VersionPath(repositoryRoot, manifest.Name, manifest.Version);
        var versionSha = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(versionPath, ct))).ToLowerInvariant();
        var v = await OffsiteCopier.CopyFileAsync(versionPath, VersionName(manifest.Name, manifest.Version), versionSha, store, key, options, ct);
        if (v.Sent) { sent++; bytes += v.Bytes; }
        var already = needed.Count(sha => there.Contains(BlobName(manifest.Name, sha)) || packedThere.Contains(sha));
        if (sent > 0) log?.Invoke($"Copied model {manifest.Name} {manifest.Version} to {store.Describe}: {sent} object(s) sent ({packsToSend.Count} pack(s) with their indexes), {already} blob(s) already there");
        return new SetCopyResult(SetName(manifest), sent, already + (v.Sent ? 0 : 1), bytes, parts, resumed);
    }

    /// <summary>The versions of a model (or of every model) offsite, read from their manifests there, newest first.</summary>
    public static async Task<IReadOnlyList<ModelManifest>> ListVersionsAsync(IRemoteStore store, EncryptionKey key, string? name, CancellationToken ct)
    {
        var versions = new List<ModelManifest>();
        await foreach (var n in store.ListAsync(name is null ? OffsiteCatalog.ModelPrefix : $"{Root(name)}versions/", ct))
        {
            if (!n.Contains("/versions/", StringComparison.Ordinal) || !n.EndsWith(".json" + OffsiteCopier.Suffix, StringComparison.Ordinal)) continue;
            await using var plain = await OffsiteRead.OpenDecryptedAsync(store, n, key, ct);
            using var bytes = new MemoryStream();
            await plain.CopyToAsync(bytes, ct);
            bytes.Position = 0;
            versions.Add(ModelJson.Parse(bytes)
                ?? throw new InvalidDataException($"The model manifest {n} in {store.Describe} is empty."));
        }
        return versions.OrderByDescending(m => m.Created).ToList();
    }

    /// <summary>
    /// Brings one version back into a scratch repository of the local layout (blobs checked against their SHA-256,
    /// the version's manifest last), so the restore runs on it as on the local repository.
    /// </summary>
    public static async Task FetchVersionAsync(IRemoteStore store, EncryptionKey key, ModelManifest manifest, string scratchRoot, Action<string>? log, CancellationToken ct)
    {
        var blobs = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(scratchRoot, manifest.Name), "blobs"));
        var needed = manifest.Files.SelectMany(f => f.Blobs).Distinct().ToList();
        var loose = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var (_, sha) in ListBlobsAsync(store, manifest.Name, ct)) loose.Add(sha);
        var inPacks = needed.Where(sha => !loose.Contains(sha)).ToList();
        if (inPacks.Count > 0)
        {
            // Only the packs that hold a blob of this version come back; the restore reads each blob against its SHA-256.
            var packOf = new Dictionary<string, string>(StringComparer.Ordinal);
            var listing = await OffsitePacks.ListAsync(store, key, manifest.Name, null, ct);
            foreach (var (id, shas) in listing.Packs)
                foreach (var sha in shas) packOf.TryAdd(sha, id);
            if (inPacks.FirstOrDefault(sha => !packOf.ContainsKey(sha)) is { } lost)
                throw new InvalidDataException($"Model {manifest.Name} {manifest.Version}: blob {lost} is in no object of {store.Describe} (neither a blob nor a pack's index names it)" +
                    (listing.Damaged.Count > 0 ? $"; the index of pack(s) {string.Join(", ", listing.Damaged)} there cannot be read, and may hold it" : "") +
                    "; that version cannot be restored from there. Restore another version, or copy this one again from a host that has it.");
            var ids = inPacks.Select(sha => packOf[sha]).Distinct().ToList();
            await OffsitePacks.FetchAsync(store, key, manifest.Name, ids, blobs.Packs, ct);
            log?.Invoke($"Fetched {ids.Count} pack(s) of model {manifest.Name} from {store.Describe}");
        }
        await Parallel.ForEachAsync(needed.Where(loose.Contains),
            new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (sha, token) =>
            {
                var path = blobs.PathOf(sha);
                Repository.FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
                await OffsiteFetch.FetchFileAsync(store, key, BlobName(manifest.Name, sha), path, sha, token);
            });
        var versionPath = ModelBackup.VersionPath(scratchRoot, manifest.Name, manifest.Version);
        Repository.FileModes.CreatePrivateDirectory(Path.GetDirectoryName(versionPath)!);
        await OffsiteFetch.FetchFileAsync(store, key, VersionName(manifest.Name, manifest.Version), versionPath, null, ct);
        log?.Invoke($"Fetched model {manifest.Name} {manifest.Version} ({manifest.Files.Count} files) from {store.Describe}");
    }
}
