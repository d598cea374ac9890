using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>What one set's copy did: files sent, files already there (not sent again), bytes sent, parts sent and parts found there from a copy cut short.</summary>
public sealed record SetCopyResult(string SetPath, int Sent, int AlreadyThere, long BytesSent, int PartsSent = 0, int PartsResumed = 0);

/// <summary>How a copy runs: where its resume records live, how many parts fly at once, the bandwidth limit, the lock, and whether to read everything back.</summary>
public sealed record OffsiteCopyOptions(string StateDirectory)
{
    public int Parallelism { get; init; } = 4;
    public Throttle Throttle { get; init; } = new(null);
    /// <summary>Objects are locked for this many days from their upload (null: not locked).</summary>
    public int? ImmutableDays { get; init; }
    /// <summary>Read every object back and decrypt it against its SHA-256 (the drill's check), beyond the store's per-part MD5.</summary>
    public bool ReadBack { get; init; }
    /// <summary>The offsite's name in the policy: what a copy of model versions and that offsite's retention lock on.</summary>
    public string? Name { get; init; }
}

/// <summary>What one file's copy did.</summary>
public sealed record FileCopyResult(bool Sent, long Bytes, int Parts, int PartsResumed);

/// <summary>
/// Copies published sets to a remote repository, encrypted on the way (BTENC1, never plaintext off the host): each file
/// goes to &lt;engine&gt;/&lt;target&gt;/&lt;type&gt;/&lt;id&gt;/&lt;file&gt;.btenc with its plaintext SHA-256 and the key id as
/// metadata; the files of a set go in parallel, and a large file in parallel parts, each with an MD5 the store checks
/// on arrival; after completion the stored object's size and SHA-256 metadata are checked against ours (and with
/// ReadBack, it is read back and decrypted). manifest.json goes last, so a copy cut short is never listed as a set.
/// A file already there with the same SHA-256 and key is not sent again, and an upload cut short resumes with the
/// parts that arrived (its resume record keeps the header, so the parts made again are the same bytes).
/// </summary>
public static class OffsiteCopier
{
    public const string Suffix = ".btenc";
    public const string ShaKey = "sha256", KeyIdKey = "keyid";

    /// <summary>Test hook: called after each file arrived (its name), so a test can stop a copy mid-way.</summary>
    internal static Action<string>? AfterFile;
    /// <summary>Test hook: called after each part arrived (file name, part), so a test can cut an upload between parts.</summary>
    internal static Action<string, int>? AfterPart;

    public static async Task<SetCopyResult> CopySetAsync(string repositoryRoot, CatalogEntry set, IRemoteStore store, EncryptionKey key,
        OffsiteCopyOptions options, Action<string>? log, CancellationToken ct)
    {
        var relative = Path.GetRelativePath(repositoryRoot, set.Path).Replace('\\', '/');
        int sent = 0, there = 0, parts = 0, resumed = 0;
        long bytes = 0;
        var gate = new object();
        void Count(string name, FileCopyResult r)
        {
            lock (gate)
            {
                if (r.Sent) { sent++; bytes += r.Bytes; parts += r.Parts; resumed += r.PartsResumed; }
                else there++;
            }
            if (r.Sent) log?.Invoke($"Copied {relative}/{name} to {store.Describe}{(r.PartsResumed > 0 ? $" ({r.PartsResumed} of {r.Parts + r.PartsResumed} parts were there from a copy cut short)" : "")}");
            AfterFile?.Invoke(name);
        }
        await Parallel.ForEachAsync(set.Manifest.Files, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct }, async (f, token) =>
            Count(f.Name, await CopyFileAsync(Path.Combine(set.Path, f.Name), $"{relative}/{f.Name}{Suffix}", f.Sha256, store, key, options, token)));
        // The manifest last: its presence there is what makes the set exist there, as locally.
        var manifestPath = Path.Combine(set.Path, BackupManifest.FileName);
        Count(BackupManifest.FileName, await CopyFileAsync(manifestPath, $"{relative}/{BackupManifest.FileName}{Suffix}", await ShaOfAsync(manifestPath, ct), store, key, options, ct));
        return new SetCopyResult(relative, sent, there, bytes, parts, resumed);
    }

    /// <summary>Copies one file (encrypted) unless the same content under the same key is already there.</summary>
    public static async Task<FileCopyResult> CopyFileAsync(string local, string remote, string sha, IRemoteStore store, EncryptionKey key,
        OffsiteCopyOptions options, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        using var file = File.OpenHandle(local, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        var length = RandomAccess.GetLength(file);
        // There already: the same content, readable with this key, whole (its size), and locked when locks are asked
        // for; an object that failed a check after its upload is not taken for a good one on the next run.
        if (await store.StatAsync(remote, ct) is { } existing && existing.Metadata.GetValueOrDefault(ShaKey) == sha
            && existing.Size == PartEncryptor.CipherLengthOf(length)
            && (options.ImmutableDays is null || existing.LockedUntil > DateTimeOffset.UtcNow)
            && await OffsiteRead.ReadsAsync(store, remote, existing.Metadata, key, ct))
            return new FileCopyResult(false, 0, 0, 0);
        var metadata = new Dictionary<string, string> { [ShaKey] = sha, [KeyIdKey] = key.Id };
        DateTimeOffset? lockUntil = options.ImmutableDays is { } days ? DateTimeOffset.UtcNow.AddDays(days) : null;
        var saved = ResumeRecord.Read(options.StateDirectory, remote, sha);
        // Resuming re-makes parts with the saved data key and nonces: only over the very bytes the record was made for
        // (a file changed since would reuse GCM nonces with other plaintext). One read of the file proves it.
        if (saved is not null && await ShaOfAsync(local, ct) != sha)
        {
            ResumeRecord.Remove(options.StateDirectory, remote);
            throw new InvalidDataException($"'{local}' no longer has the SHA-256 its manifest records ({sha}): it changed or is damaged on this host, so it is not copied. Run Test-DbBackup.");
        }
        PartEncryptor parts;
        try { parts = new PartEncryptor(key, saved is null ? null : Convert.FromBase64String(saved.Header), length); }
        catch (Exception e) when (saved is not null && e is EncryptionKeyException or EncryptedDataException)
        {
            saved = null; // a record under another key (rotated since): start afresh
            parts = new PartEncryptor(key, null, length);
        }
        int sentParts, resumed = 0;
        if (parts.PartCount == 1)
        {
            var content = parts.Make(file, 0);
            await options.Throttle.TakeAsync(content.Length, ct);
            await store.PutAsync(remote, content, metadata, lockUntil, ct);
            sentParts = 1;
        }
        else
        {
            var (token, done) = await store.StartPartsAsync(remote, saved?.Token, saved?.Parts ?? [], metadata, lockUntil, ct);
            var record = new ResumeRecord(remote, sha, Convert.ToBase64String(parts.HeaderBytes), token) { Parts = done.ToDictionary() };
            record.Write(options.StateDirectory);
            var missing = Enumerable.Range(0, parts.PartCount).Where(p => !done.ContainsKey(p)).ToList();
            resumed = parts.PartCount - missing.Count;
            await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct }, async (p, token2) =>
            {
                var content = parts.Make(file, p);
                await options.Throttle.TakeAsync(content.Length, token2);
                var receipt = await store.PutPartAsync(remote, token, p, content, token2);
                lock (record)
                {
                    record.Parts[p] = receipt;
                    record.Write(options.StateDirectory);
                }
                AfterPart?.Invoke(Path.GetFileName(local), p);
            });
            try { await store.CompletePartsAsync(remote, token, Enumerable.Range(0, parts.PartCount).Select(p => record.Parts[p]).ToList(), metadata, lockUntil, ct); }
            catch (Exception e) when (e.Message.Contains("NoSuchUpload", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("InvalidPart", StringComparison.OrdinalIgnoreCase)
                                      || e.GetType().Name == "AmazonS3Exception" && e.Message.Contains("upload", StringComparison.OrdinalIgnoreCase))
            {
                // The store no longer has that upload (expired, aborted): the next run starts it afresh instead of failing forever.
                ResumeRecord.Remove(options.StateDirectory, remote);
                throw;
            }
            ResumeRecord.Remove(options.StateDirectory, remote);
            sentParts = missing.Count;
        }
        // What the store now holds is ours: its size, and the SHA-256 and key we wrote with it.
        var stored = await store.StatAsync(remote, ct)
            ?? throw new IOException($"'{remote}' is not in {store.Describe} right after it was written; the set is not listed there.");
        if (stored.Size != parts.CipherLength || stored.Metadata.GetValueOrDefault(ShaKey) != sha)
            throw new InvalidDataException($"'{remote}' in {store.Describe} holds {stored.Size} bytes with SHA-256 '{stored.Metadata.GetValueOrDefault(ShaKey)}', not {parts.CipherLength} with {sha}: the copy is not good and the set is not listed there.");
        // Asked to lock, the object must be locked: a store that ignores the request (no immutability there) is an error, never an unlocked copy believed safe.
        // (A resumed upload took its lock date when it began, in an earlier run: any lock still running counts.)
        if (lockUntil is not null && (stored.LockedUntil is not { } locked || locked <= DateTimeOffset.UtcNow))
            throw new IOException($"'{remote}' in {store.Describe} was written without the lock asked for (immutableDays {options.ImmutableDays}): enable version-level immutability (Azure) or Object Lock (S3) there, or remove immutableDays. Test-BackupTarget -Offsite checks it.");
        if (options.ReadBack) await VerifyAsync(remote, sha, store, key, ct);
        return new FileCopyResult(true, length, sentParts, resumed);
    }

    /// <summary>Reads the object back, decrypts and hashes it: what arrived is what the manifest says, or the copy fails.</summary>
    public static async Task VerifyAsync(string remote, string sha, IRemoteStore store, EncryptionKey key, CancellationToken ct)
    {
        await using var plain = await OffsiteRead.OpenDecryptedAsync(store, remote, key, ct);
        var actual = Convert.ToHexString(await SHA256.HashDataAsync(plain, ct)).ToLowerInvariant();
        if (actual != sha)
            throw new InvalidDataException($"'{remote}' in {store.Describe} reads back with SHA-256 {actual}, not {sha}: the copy is not good and the set is not listed there.");
    }

    /// <summary>The sets a remote repository holds: those whose manifest arrived (a copy cut short is not one).</summary>
    public static async Task<IReadOnlyList<string>> ListCopiedSetsAsync(IRemoteStore store, CancellationToken ct)
    {
        var sets = new List<string>();
        await foreach (var name in store.ListAsync("", ct))
            if (name.EndsWith("/" + BackupManifest.FileName + Suffix, StringComparison.Ordinal)
                && name[..^(BackupManifest.FileName.Length + Suffix.Length + 1)] is var set && IsSetPath(set))
                sets.Add(set);
        return sets;
    }

    /// <summary>
    /// engine/target/type/id, each a plain name: what a set's place is, and all a name from a store may be before it
    /// becomes a local path (a store could list "/etc/cron.d/x" or "../.."; such names are not sets).
    /// </summary>
    public static bool IsSetPath(string set)
    {
        var parts = set.Split('/');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 200 && p != "." && p != ".." && !p.Contains('\\') && !p.Contains('\0'))
               && !set.StartsWith(OffsiteCatalog.ModelPrefix, StringComparison.Ordinal) && !set.StartsWith("_", StringComparison.Ordinal);
    }

    private static async Task<string> ShaOfAsync(string path, CancellationToken ct)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file, ct)).ToLowerInvariant();
    }
}

/// <summary>
/// The catalog of an offsite repository, rebuilt from the manifests there alone (decrypted with the policy's key): what
/// a host that never saw the local repository can list, and restore from.
/// </summary>
public static class OffsiteCatalog
{
    public static async Task<IReadOnlyList<CatalogEntry>> ListAsync(IRemoteStore store, EncryptionKey key, string offsiteName, CancellationToken ct)
    {
        var entries = new List<CatalogEntry>();
        foreach (var set in await OffsiteCopier.ListCopiedSetsAsync(store, ct))
        {
            if (set.StartsWith(ModelPrefix, StringComparison.Ordinal)) continue; // model versions have their own manifests
            await using var plain = await OffsiteRead.OpenDecryptedAsync(store, $"{set}/{BackupManifest.FileName}{OffsiteCopier.Suffix}", key, ct);
            var manifest = await System.Text.Json.JsonSerializer.DeserializeAsync(plain, RepositoryJson.Default.BackupManifest, ct)
                ?? throw new InvalidDataException($"The manifest of {set} in {store.Describe} is empty.");
            // The manifest says what it is; the name it is stored under must say the same (a store could move one).
            if (set != $"{manifest.Engine}/{manifest.Target}/{manifest.Type}/{manifest.Id}")
                throw new InvalidDataException($"'{set}' in {store.Describe} holds the manifest of {manifest.Engine}/{manifest.Target}/{manifest.Type}/{manifest.Id}: a set stored under another name is refused.");
            // Where it is: offsite:<name>/<engine>/<target>/<type>/<id>, never a local path.
            entries.Add(new CatalogEntry(manifest, $"offsite:{offsiteName}/{set}"));
        }
        return entries.OrderByDescending(e => e.Manifest.StartTime).ToList();
    }

    /// <summary>Where model versions and blobs live offsite (never a set of the catalog).</summary>
    public const string ModelPrefix = "_models/";
}
