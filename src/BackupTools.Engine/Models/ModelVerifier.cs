using System.Diagnostics;
using BackupTools.Engine.Engines;
using BackupTools.Model;

namespace BackupTools.Engine.Models;

/// <summary>
/// Test-AiModelBackup. First the structure, without reading data: every pack's index readable and its pack long enough
/// for every blob it indexes (a damaged one is a Corrupt record named "pack &lt;id&gt;"), every blob a version names
/// present in a blob file or a pack, and packs no version names reported (retention removes them). Then the data:
/// every blob read against its SHA-256, or with <c>readPercent</c> a random sample of that share of the distinct blobs,
/// as restic check --read-data-subset does (the presence of every blob is still checked).
/// </summary>
public static class ModelVerifier
{
    public static async IAsyncEnumerable<BackupVerification> VerifyAsync(string repositoryRoot, string name, string? version,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct, int? readPercent = null, Action<string>? warn = null, Random? random = null)
    {
        var versions = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), "versions");
        if (!Directory.Exists(versions))
            throw new DirectoryNotFoundException($"Model '{name}' has no backups in {repositoryRoot}.");
        var store = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), "blobs"));
        var all = ModelBackup.Versions(repositoryRoot, name);

        // The packs, from their indexes and sizes alone.
        // As 32-byte ids (each version's list read as a stream): a million blobs are 40 MB here, not 200.
        var named = new HashSet<BlobId>();
        foreach (var m in all) foreach (var f in m.Files) foreach (var blob in f.Blobs) if (BlobId.TryParse(blob, out var id)) named.Add(id);
        static BlobId Id(string sha) => BlobId.TryParse(sha, out var id) ? id : default;
        var unreferenced = 0;
        foreach (var (pack, blobs, bytes) in store.Packs.Packs())
        {
            var clock = Stopwatch.StartNew();
            string? problem = blobs.Count == 0 ? "its index cannot be read (damaged): the blobs it held count as missing"
                : blobs.Max(b => b.Blob.Offset + b.Blob.Length) is var end && end > bytes ? $"the pack has {bytes} bytes but its index has a blob ending at {end}"
                : null;
            if (problem is not null)
                yield return new BackupVerification
                {
                    Id = "pack " + pack, Target = name, Type = BackupType.Model.Name(), Status = VerificationStatus.Corrupt,
                    FilesChecked = blobs.Count, BytesChecked = bytes, Duration = clock.Elapsed, File = pack + ".pack", Detail = problem, Path = store.Packs.Directory,
                };
            else if (!blobs.Any(b => named.Contains(Id(b.Sha256)))) unreferenced++;
        }
        if (unreferenced > 0)
            warn?.Invoke($"Model {name}: {unreferenced} pack(s) hold no blob any version names (a backup that failed after writing them); Remove-ExpiredBackup removes them with the next removed version.");

        // The sample, when only a share is read: the same blob is read for every version naming it, or for none.
        var rng = random ?? Random.Shared;
        var sample = readPercent is { } p and < 100 ? named.Where(_ => rng.NextDouble() * 100 < p).ToHashSet() : null;
        // Each distinct blob is read once, whichever versions share it (five versions of one model are mostly the same blobs).
        var verdicts = new Dictionary<BlobId, bool>();
        foreach (var m in all.Where(m => version is null || m.Version == version))
        {
            var clock = Stopwatch.StartNew();
            ModelFile? bad = null;
            string? badBlob = null;
            long read = 0;
            foreach (var f in m.Files.Where(f => !f.IsLink))
            {
                // Each blob of the file: its chunks, or its one blob (ModelFile.Blobs).
                var blobs = f.Blobs;
                for (var i = 0; i < blobs.Count; i++)
                {
                    var blob = blobs[i];
                    if (!store.Contains(blob)) { (bad, badBlob) = (f, blob); break; }
                    var id = Id(blob);
                    if (sample is not null && !sample.Contains(id)) continue;
                    if (!verdicts.TryGetValue(id, out var good)) verdicts[id] = good = await store.VerifyAsync(blob, ct);
                    if (!good) { (bad, badBlob) = (f, blob); break; }
                    // The bytes of the file this blob holds: a chunk's share, or the whole file.
                    read += f.Chunks is null ? f.Size : Math.Min(BlobStore.ChunkSize, f.Size - (long)i * BlobStore.ChunkSize);
                }
                if (bad is not null) break;
            }
            yield return new BackupVerification
            {
                Id = m.Version, Target = m.Name, Type = BackupType.Model.Name(), Status = bad is null ? VerificationStatus.Verified
                    : store.Contains(badBlob!) ? VerificationStatus.Corrupt : VerificationStatus.Missing,
                FilesChecked = m.Files.Count, BytesChecked = read, Duration = clock.Elapsed, File = bad?.Path,
                Detail = bad is null ? sample is null ? null : $"every blob present; {readPercent} % of them read ({read} bytes)"
                    : $"{(bad.Chunks is null ? "blob" : "chunk blob")} {badBlob} of '{bad.Path}' is {(store.Contains(badBlob!) ? "damaged" : "missing")}",
                Path = versions,
            };
        }
    }
}
