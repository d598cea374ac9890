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
        foreach (var sha in manifest.Files.SelectMany(f => f.Blobs).Distinct())
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
        SafeDirectory? fresh = null, previous = null;
        try
        {
            step = "materialise";
            fresh = parent.CreateSubdirectory(freshName, FileModes.PrivateDirectory);
            using var tree = new ModelTree(fresh, SafeDirectory.IsRoot ? (owner.Uid, owner.Gid) : null);
            foreach (var f in manifest.Files.Where(f => !f.IsLink))
            {
                ct.ThrowIfCancellationRequested();
                SafeDirectory.Pause("model:materialise");
                await tree.WriteFileAsync(f.Path, () => store.OpenFile(f),
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
            if (parent.StatEntry(name) is { } current)
            {
                // Held by its handle from here on: what is later removed is this directory, whatever its name then holds.
                if ((current.Mode & 0xF000) == 0x4000) previous = parent.OpenSubdirectory(name);
                parent.RenameNoReplace(name, previousName);
            }
            parent.RenameNoReplace(freshName, name);
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
            RollBack(parent, name, freshName, previousName, fresh, previous, swapped, log, destination);
            fresh?.Dispose();
            previous?.Dispose();
            if (e is OperationCanceledException) throw;
            throw e as ModelRestoreException ?? new ModelRestoreException(step, e.Message, e);
        }
        // Validated: the previous version and nothing else goes (only what its owner owns, see DeleteTreeIfSame).
        TryDeleteTree(parent, previousName, previous, log);
        fresh.Dispose();
        previous?.Dispose();
        return new Result(manifest, destination, validate is not null, steps);
    }

    /// <summary>The full path of a manifest path under a root; refuses absolute paths, '..' and symlinks on the way.</summary>
    internal static string SafePath(string root, string relative)
    {
        // A backslash is a separator only on Windows; on Linux it is a character of a name a backup took, and refusing it
        // here made such a version impossible to restore.
        if (relative.Length == 0 || Path.IsPathRooted(relative) || (OperatingSystem.IsWindows() && relative.Contains('\\')) ||
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

    /// <summary>
    /// Puts the previous directory back and removes the new one, each only when its name still holds the very directory
    /// this restore renamed or made (compared by handle), so a swap by another account is never renamed over or
    /// deleted; a step that cannot be undone is logged, never thrown over the error that caused the rollback.
    /// </summary>
    private static void RollBack(SafeDirectory parent, string name, string freshName, string previousName,
        SafeDirectory? fresh, SafeDirectory? previous, bool swapped, Action<string>? log, string destination)
    {
        try
        {
            // What this restore renamed to the destination's name goes back out, whatever it turned out to be (a rename
            // of an entry never follows it); what is removed afterwards is decided by identity.
            if (swapped) parent.RenameNoReplace(name, freshName);
            if (previous is not null && parent.StatEntry(name) is null && parent.IsSameAs(previousName, previous))
            {
                parent.RenameNoReplace(previousName, name);
                log?.Invoke($"Rolled back: '{destination}' is the previous model directory again.");
            }
            else if (previous is not null)
                log?.Invoke($"Not rolled back: '{destination}' is taken by something this restore did not put there; the previous version is '{Path.Combine(parent.Path, previousName)}'.");
        }
        catch (IOException e) { log?.Invoke($"Rollback incomplete: {e.Message} The previous version is '{Path.Combine(parent.Path, previousName)}'."); }
        if (fresh is not null) TryDeleteTree(parent, freshName, fresh, log);
    }

    private static void TryDeleteTree(SafeDirectory parent, string name, SafeDirectory? held, Action<string>? log)
    {
        if (held is null) return;
        try
        {
            // Something else at the name that is not a directory (a planted link) is only unlinked: that never touches
            // its target, and the account that can write here could unlink it itself.
            if (parent.StatEntry(name) is { } e && (e.Mode & 0xF000) != 0x4000) { parent.TryDelete(name); return; }
            if (!parent.DeleteTreeIfSame(name, held))
                log?.Invoke($"Left '{Path.Combine(parent.Path, name)}' (or part of it): it is not only the directory this restore moved aside.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log?.Invoke($"Could not remove '{Path.Combine(parent.Path, name)}': {e.Message}");
        }
    }
}
