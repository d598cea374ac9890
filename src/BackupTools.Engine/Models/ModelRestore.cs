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
        destination = Path.GetFullPath(destination).TrimEnd('/');
        var steps = new List<string>();
        var step = "check paths";
        foreach (var f in manifest.Files)
        {
            SafePath(destination, f.Path);
            if (f.LinkTarget is { } t && !ModelFile.LinkStaysInside(f.Path, t))
                throw new ModelRestoreException(step, $"the manifest has '{f.Path}' as a symlink to '{t}', which leads outside the model; a restore never creates such a link.");
        }
        var store = new BlobStore(Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, manifest.Name), "blobs"));

        step = "verify blobs";
        foreach (var sha in manifest.Files.Where(f => !f.IsLink).Select(f => f.Sha256).Distinct())
            if (!await store.VerifyAsync(sha, ct))
                throw new ModelRestoreException(step, $"blob {sha} of version {manifest.Version} is missing or damaged; the destination was not touched. Run Test-AiModelBackup.");
        steps.Add(step);

        if (!SafeDirectory.Supported)
            return await ModelRestoreByPath.RunAsync(store, manifest, destination, validate, log, steps, keepSpecialBits, ct);

        // Everything happens through a handle to the destination's parent (which the model's owners may write): the new
        // version is built in a new directory under a random name, each entry created O_EXCL | O_NOFOLLOW from its own
        // directory's handle, and swapped in with renameat, so a symlink or directory swapped in mid-way is never
        // written through, chowned or deleted through.
        string what = $"to restore model {manifest.Name} into '{destination}'";
        using var parent = SafeDirectory.OpenPath(Path.GetDirectoryName(destination)!, what);
        var name = Path.GetFileName(destination);
        var id = Guid.NewGuid().ToString("N")[..8];
        var freshName = $"{name}.restore-{id}";
        var previousName = $"{name}.previous-{id}";
        var owner = parent.StatEntry(name) is { } d && (d.Mode & 0xF000) == 0x4000 ? d : parent.Stat();
        var swapped = false;
        var hadPrevious = false;
        SafeDirectory? fresh = null;
        try
        {
            step = "materialise";
            fresh = parent.CreateSubdirectory(freshName, FileModes.PrivateDirectory);
            using var tree = new ModelTree(fresh, Environment.UserName == "root" ? (owner.Uid, owner.Gid) : null);
            foreach (var f in manifest.Files.Where(f => !f.IsLink))
            {
                ct.ThrowIfCancellationRequested();
                SafeDirectory.Pause("model:materialise");
                await tree.WriteFileAsync(f.Path, store.PathOf(f.Sha256),
                    (UnixFileMode)(Convert.ToInt32(f.Mode, 8) & (keepSpecialBits ? 0xFFF : 0x1FF)), f.Modified, ct);
            }
            foreach (var f in manifest.Files.Where(f => f.IsLink)) tree.CreateLink(f.Path, f.LinkTarget!);
            steps.Add(step);

            step = "check the restored files";
            foreach (var f in manifest.Files)
                if (!await tree.MatchesAsync(f, ct))
                    throw new ModelRestoreException(step, $"'{f.Path}' does not read back as it was stored; check the disk under {Path.Combine(parent.Path, freshName)}.");
            // The tree goes to the destination's owner (its mode too), so the service that reads the model still can.
            tree.HandOver((UnixFileMode)(owner.Mode & 0x1FF));
            steps.Add(step);

            step = "swap into place";
            SafeDirectory.Pause("model:swap");
            if (parent.StatEntry(name) is not null) { parent.Rename(name, previousName); hadPrevious = true; }
            parent.Rename(freshName, name);
            swapped = true;
            if (!parent.IsSameAs(name, fresh))
                throw new ModelRestoreException(step, $"'{destination}' is not the directory this restore built: another account replaced it mid-way.");
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
                parent.Rename(name, freshName);
                if (hadPrevious) parent.Rename(previousName, name);
                log?.Invoke($"Rolled back: '{destination}' is the previous model directory again.");
            }
            else if (hadPrevious && parent.StatEntry(name) is null) parent.Rename(previousName, name);
            if (e is OperationCanceledException) throw;
            throw e as ModelRestoreException ?? new ModelRestoreException(step, e.Message, e);
        }
        finally
        {
            fresh?.Dispose();
            TryDeleteTree(parent, freshName, log); // the new directory when it was not swapped in, or was swapped back out
        }
        TryDeleteTree(parent, previousName, log); // validated: the previous directory is no longer needed
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

    private static void TryDeleteTree(SafeDirectory parent, string name, Action<string>? log)
    {
        try { parent.DeleteTree(name); }
        catch (IOException e) { log?.Invoke($"Could not remove '{Path.Combine(parent.Path, name)}': {e.Message}"); }
    }
}
