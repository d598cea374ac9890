using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>A model restore failed at a step; the destination is as it was before (rolled back when it had been swapped).</summary>
public sealed class ModelRestoreException(string step, string message, Exception? inner = null)
    : Exception($"Model restore failed at step '{step}': {message}", inner)
{
    public string Step { get; } = step;
}

/// <summary>
/// Restores a model version: verify every blob, materialise the files into a new sibling of the destination, check them
/// against the manifest, swap it into place by renames keeping the previous directory, run the validation, and on any
/// failure put the previous directory back. Paths that are absolute or climb out of the destination are refused: a
/// restore never writes outside its destination.
/// </summary>
public static class ModelRestore
{
    public sealed record Result(ModelManifest Manifest, string Destination, bool Validated, IReadOnlyList<string> Steps);

    public static ModelManifest? Find(string repositoryRoot, string name, string? version) =>
        ModelBackup.Versions(repositoryRoot, name).FirstOrDefault(m => version is null || m.Version == version);

    /// <param name="validate">Gets the restored directory in place; false rolls the restore back.</param>
    public static async Task<Result> RunAsync(string repositoryRoot, ModelManifest manifest, string destination,
        Func<string, Task<bool>>? validate, Action<string>? log, CancellationToken ct, bool keepSpecialBits = false)
    {
        destination = Path.GetFullPath(destination);
        var steps = new List<string>();
        var step = "check paths";
        foreach (var f in manifest.Files) SafePath(destination, f.Path);
        var store = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, manifest.Name), "blobs"));

        step = "verify blobs";
        foreach (var sha in manifest.Files.Select(f => f.Sha256).Distinct())
            if (!await store.VerifyAsync(sha, ct))
                throw new ModelRestoreException(step, $"blob {sha} of version {manifest.Version} is missing or damaged; the destination was not touched. Run Test-AiModelBackup.");
        steps.Add(step);

        // The new version is built beside the destination and swapped in by path: as root, only where no other account
        // can write, or that account could turn the half-built directory into a symlink (to /etc/cron.d, say).
        SafeDirectory.RefuseIfOthersCanWrite(Path.GetDirectoryName(Path.GetFullPath(destination).TrimEnd('/'))!, $"to restore model {manifest.Name} into '{destination}'");
        var id = Guid.NewGuid().ToString("N")[..8];
        var fresh = $"{destination.TrimEnd('/')}.restore-{id}";
        var previous = $"{destination.TrimEnd('/')}.previous-{id}";
        var swapped = false;
        try
        {
            step = "materialise";
            FileModes.CreatePrivateDirectory(fresh);
            foreach (var f in manifest.Files)
            {
                var target = SafePath(fresh, f.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(store.PathOf(f.Sha256), target);
                // Permission bits only, unless models.<name>.keepSpecialBits: a setuid or setgid bit in a model would
                // come back as a root-owned setuid file.
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, (UnixFileMode)(Convert.ToInt32(f.Mode, 8) & (keepSpecialBits ? 0xFFF : 0x1FF)));
                File.SetLastWriteTimeUtc(target, f.Modified);
            }
            steps.Add(step);

            step = "check the restored files";
            foreach (var f in manifest.Files)
                if (await StreamingWriter.HashFileAsync(SafePath(fresh, f.Path), ct) != f.Sha256)
                    throw new ModelRestoreException(step, $"'{f.Path}' does not read back as it was stored; check the disk under {fresh}.");
            steps.Add(step);

            step = "swap into place";
            if (Directory.Exists(destination)) Directory.Move(destination, previous);
            Directory.Move(fresh, destination);
            swapped = true;
            steps.Add(step);

            step = "validate";
            if (validate is not null && !await validate(destination))
                throw new ModelRestoreException(step, "the validation script did not return $true; the previous model directory was put back.");
            steps.Add(step);
        }
        catch (Exception e)
        {
            if (swapped)
            {
                Directory.Move(destination, fresh);
                if (Directory.Exists(previous)) Directory.Move(previous, destination);
                log?.Invoke($"Rolled back: '{destination}' is the previous model directory again.");
            }
            if (e is OperationCanceledException) throw;
            throw e as ModelRestoreException ?? new ModelRestoreException(step, e.Message, e);
        }
        finally
        {
            TryDelete(fresh); // the new directory when it was not swapped in, or was swapped back out
        }
        TryDelete(previous); // validated: the previous directory is no longer needed
        return new Result(manifest, destination, validate is not null, steps);
    }

    /// <summary>The full path of a manifest path under a root; refuses absolute paths, '..' and symlinks on the way.</summary>
    internal static string SafePath(string root, string relative)
    {
        if (relative.Length == 0 || Path.IsPathRooted(relative) || relative.Contains('\\') ||
            relative.Split('/').Any(s => s is "" or "." or ".."))
            throw new ModelRestoreException("check paths", $"the manifest names '{relative}', which is not a plain relative path; a restore never writes outside its destination.");
        var full = Path.GetFullPath(Path.Combine(root, relative));
        if (!full.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal))
            throw new ModelRestoreException("check paths", $"'{relative}' leads outside '{root}'.");
        for (var dir = Path.GetDirectoryName(full); dir is not null && dir.Length > root.TrimEnd('/').Length; dir = Path.GetDirectoryName(dir))
            if (Directory.Exists(dir) && new DirectoryInfo(dir).LinkTarget is not null)
                throw new ModelRestoreException("check paths", $"'{relative}' goes through the symbolic link '{dir}'; a restore never follows links out of its destination.");
        return full;
    }

    private static void TryDelete(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
    }
}
