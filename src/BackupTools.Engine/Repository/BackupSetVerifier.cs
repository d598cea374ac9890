using System.Diagnostics;

namespace BackupTools.Engine.Repository;

/// <summary>What re-reading one set found: every file good, or the first file that is missing or reads back wrong.</summary>
public sealed record SetCheck(bool Missing, bool Corrupt, int FilesChecked, long BytesChecked, string? File, string? Detail, TimeSpan Duration)
{
    public bool Good => !Missing && !Corrupt;
}

/// <summary>Re-hashes every file of a published set against its manifest (Test-DbBackup).</summary>
public static class BackupSetVerifier
{
    public static async Task<SetCheck> CheckAsync(CatalogEntry entry, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var manifestPath = Path.Combine(entry.Path, BackupManifest.FileName);
        if (!File.Exists(manifestPath))
            return new SetCheck(true, false, 0, 0, BackupManifest.FileName, $"'{entry.Path}' has no manifest any more.", clock.Elapsed);
        // The catalog may have read the manifest from its index: the file itself must still say the same (a published
        // manifest never changes, so a difference is damage or an edit).
        if (!SameAsOnDisk(entry.Manifest, manifestPath, out var why))
            return new SetCheck(false, true, 0, 0, BackupManifest.FileName, $"'{manifestPath}' {why}", clock.Elapsed);
        var total = entry.Manifest.StoredBytes;
        long bytes = 0;
        var files = 0;
        foreach (var file in entry.Manifest.Files)
        {
            var path = Path.Combine(entry.Path, file.Name);
            if (!File.Exists(path))
                return new SetCheck(true, false, files, bytes, file.Name, $"'{path}' is listed in the manifest but missing.", clock.Elapsed);
            var length = new FileInfo(path).Length;
            string actual;
            await using (var stream = new ProgressStream(
                             new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan),
                             progress is null ? null : new OffsetProgress(progress, bytes), "Verifying", total))
                actual = Convert.ToHexString(await System.Security.Cryptography.SHA256.HashDataAsync(stream, cancellationToken)).ToLowerInvariant();
            bytes += length;
            files++;
            if (length != file.StoredBytes || actual != file.Sha256)
                return new SetCheck(false, true, files, bytes, file.Name,
                    $"'{path}' has {length} bytes and SHA-256 {actual}; the manifest recorded {file.StoredBytes} bytes and {file.Sha256}.", clock.Elapsed);
        }
        progress?.Report(new TransferProgress("Verifying", bytes, total));
        return new SetCheck(false, false, files, bytes, null, null, clock.Elapsed);
    }

    /// <summary>Shifts per-file progress to progress over the whole set.</summary>
    private sealed class OffsetProgress(IProgress<TransferProgress> inner, long offset) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => inner.Report(value with { Bytes = value.Bytes + offset });
    }

    private static bool SameAsOnDisk(BackupManifest listed, string path, out string why)
    {
        try
        {
            var onDisk = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(path), RepositoryJson.Default.BackupManifest);
            var same = onDisk is not null && System.Text.Json.JsonSerializer.Serialize(onDisk, RepositoryJson.Default.BackupManifest)
                == System.Text.Json.JsonSerializer.Serialize(listed, RepositoryJson.Default.BackupManifest);
            why = same ? "" : "differs from the manifest the set was published with (edited or damaged since); restore it from an offsite copy, or remove the set.";
            return same;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            why = $"cannot be read any more ({e.Message}); restore it from an offsite copy, or remove the set.";
            return false;
        }
    }
}
