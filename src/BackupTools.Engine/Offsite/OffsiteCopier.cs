using System.IO.Pipelines;
using System.Text.Json;
using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>What one set's copy did: files sent, files already there (not sent again), bytes sent.</summary>
public sealed record SetCopyResult(string SetPath, int Sent, int AlreadyThere, long BytesSent);

/// <summary>
/// Copies a published set to a remote repository, encrypted on the way (BTENC1, never plaintext off the host): each
/// file goes to &lt;engine&gt;/&lt;target&gt;/&lt;type&gt;/&lt;id&gt;/&lt;file&gt;.btenc with its plaintext SHA-256 and the
/// key id as metadata, and is read back, decrypted and hashed against the manifest before the next one; manifest.json
/// goes last, so a copy cut short is never listed as a set there. A file already there with the same SHA-256 and key
/// is not sent again, so a copy stopped mid-way resumes where it stopped.
/// </summary>
public static class OffsiteCopier
{
    public const string Suffix = ".btenc";
    public const string ShaKey = "sha256", KeyIdKey = "keyid";

    /// <summary>Test hook: called after each file arrived (its name), so a test can stop a copy mid-way.</summary>
    internal static Action<string>? AfterFile;

    public static async Task<SetCopyResult> CopySetAsync(string repositoryRoot, CatalogEntry set, IRemoteStore store, EncryptionKey key,
        Action<string>? log, CancellationToken ct)
    {
        var relative = Path.GetRelativePath(repositoryRoot, set.Path).Replace('\\', '/');
        var files = set.Manifest.Files.Select(f => (f.Name, f.Sha256)).ToList();
        // The manifest last: its presence there is what makes the set exist there, as locally.
        files.Add((BackupManifest.FileName, await ShaOfAsync(Path.Combine(set.Path, BackupManifest.FileName), ct)));
        int sent = 0, there = 0;
        long bytes = 0;
        foreach (var (name, sha) in files)
        {
            ct.ThrowIfCancellationRequested();
            var remote = $"{relative}/{name}{Suffix}";
            if (await store.MetadataAsync(remote, ct) is { } meta && meta.GetValueOrDefault(ShaKey) == sha && meta.GetValueOrDefault(KeyIdKey) == key.Id)
            {
                there++;
                continue;
            }
            var local = Path.Combine(set.Path, name);
            bytes += await UploadEncryptedAsync(local, remote, sha, store, key, ct);
            await VerifyAsync(remote, sha, store, key, ct);
            log?.Invoke($"Copied {relative}/{name} to {store.Describe}");
            sent++;
            AfterFile?.Invoke(name);
        }
        return new SetCopyResult(relative, sent, there, bytes);
    }

    /// <summary>Encrypts while uploading, through a pipe: the plaintext never sits anywhere but this process's buffers.</summary>
    private static async Task<long> UploadEncryptedAsync(string local, string remote, string sha, IRemoteStore store, EncryptionKey key, CancellationToken ct)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20));
        long written = 0;
        var producer = Task.Run(async () =>
        {
            try
            {
                await using var source = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
                await using (var sealedStream = new EncryptingStream(pipe.Writer.AsStream(leaveOpen: true), key, leaveOpen: true))
                    await source.CopyToAsync(sealedStream, 1 << 20, ct);
                written = new FileInfo(local).Length;
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, ct);
        await using (var upload = pipe.Reader.AsStream())
            await store.PutAsync(remote, upload, new Dictionary<string, string> { [ShaKey] = sha, [KeyIdKey] = key.Id }, ct);
        await producer;
        return written;
    }

    /// <summary>Reads the object back, decrypts and hashes it: what arrived is what the manifest says, or the copy fails.</summary>
    public static async Task VerifyAsync(string remote, string sha, IRemoteStore store, EncryptionKey key, CancellationToken ct)
    {
        await using var stored = await store.OpenReadAsync(remote, ct);
        await using var plain = new DecryptingStream(stored, key);
        var actual = Convert.ToHexString(await SHA256.HashDataAsync(plain, ct)).ToLowerInvariant();
        if (actual != sha)
            throw new InvalidDataException($"'{remote}' in {store.Describe} reads back with SHA-256 {actual}, not {sha}: the copy is not good and the set is not listed there.");
    }

    /// <summary>The sets a remote repository holds: those whose manifest arrived (a copy cut short is not one).</summary>
    public static async Task<IReadOnlyList<string>> ListCopiedSetsAsync(IRemoteStore store, CancellationToken ct)
    {
        var sets = new List<string>();
        await foreach (var name in store.ListAsync("", ct))
            if (name.EndsWith("/" + BackupManifest.FileName + Suffix, StringComparison.Ordinal))
                sets.Add(name[..^(BackupManifest.FileName.Length + Suffix.Length + 1)]);
        return sets;
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
            await using var stored = await store.OpenReadAsync($"{set}/{BackupManifest.FileName}{OffsiteCopier.Suffix}", ct);
            await using var plain = new DecryptingStream(stored, key);
            var manifest = await System.Text.Json.JsonSerializer.DeserializeAsync(plain, RepositoryJson.Default.BackupManifest, ct)
                ?? throw new InvalidDataException($"The manifest of {set} in {store.Describe} is empty.");
            // Where it is: offsite:<name>/<engine>/<target>/<type>/<id>, never a local path.
            entries.Add(new CatalogEntry(manifest, $"offsite:{offsiteName}/{set}"));
        }
        return entries.OrderByDescending(e => e.Manifest.StartTime).ToList();
    }
}
