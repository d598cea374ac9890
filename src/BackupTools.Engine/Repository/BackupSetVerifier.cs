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
        if (!File.Exists(Path.Combine(entry.Path, BackupManifest.FileName)))
            return new SetCheck(true, false, 0, 0, BackupManifest.FileName, $"'{entry.Path}' has no manifest any more.", clock.Elapsed);
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
}
