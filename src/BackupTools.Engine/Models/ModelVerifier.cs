using System.Diagnostics;
using BackupTools.Engine.Engines;
using BackupTools.Model;

namespace BackupTools.Engine.Models;

/// <summary>Test-AiModelBackup: every blob a version names is present and hashes to its name.</summary>
public static class ModelVerifier
{
    public static async IAsyncEnumerable<BackupVerification> VerifyAsync(string repositoryRoot, string name, string? version,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var versions = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), "versions");
        if (!Directory.Exists(versions))
            throw new DirectoryNotFoundException($"Model '{name}' has no backups in {repositoryRoot}.");
        var store = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), "blobs"));
        foreach (var m in ModelBackup.Versions(repositoryRoot, name).Where(m => version is null || m.Version == version))
        {
            var clock = Stopwatch.StartNew();
            ModelFile? bad = null;
            foreach (var f in m.Files.Where(f => !f.IsLink))
                if (!await store.VerifyAsync(f.Sha256, ct)) { bad = f; break; }
            yield return new BackupVerification
            {
                Id = m.Version, Target = m.Name, Type = BackupType.Model.Name(), Status = bad is null ? VerificationStatus.Verified
                    : store.Contains(bad.Sha256) ? VerificationStatus.Corrupt : VerificationStatus.Missing,
                FilesChecked = m.Files.Count, BytesChecked = m.RawBytes, Duration = clock.Elapsed, File = bad?.Path,
                Detail = bad is null ? null : $"blob {bad.Sha256} of '{bad.Path}' is {(store.Contains(bad.Sha256) ? "damaged" : "missing")}",
                Path = versions,
            };
        }
    }
}
