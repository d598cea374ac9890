using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>
/// The model restore where directory handles are not available (Windows, which has no openat): the same steps by
/// path. Links are refused here; a setuid bit does not exist.
/// </summary>
internal static class ModelRestoreByPath
{
    public static async Task<ModelRestore.Result> RunAsync(BlobStore store, ModelManifest manifest, string destination,
        Func<string, Task<bool>>? validate, Action<string>? log, List<string> steps, bool keepSpecialBits, CancellationToken ct)
    {
        if (manifest.Files.FirstOrDefault(f => f.IsLink) is { } link)
            throw new ModelRestoreException("check paths", $"'{link.Path}' is a symlink, which this platform's restore does not create.");
        var id = Guid.NewGuid().ToString("N")[..8];
        var fresh = $"{destination}.restore-{id}";
        var previous = $"{destination}.previous-{id}";
        var swapped = false;
        var step = "materialise";
        try
        {
            FileModes.CreatePrivateDirectory(fresh);
            foreach (var f in manifest.Files)
            {
                var target = ModelRestore.SafePath(fresh, f.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await using (var blob = store.OpenFile(f))
                await using (var copy = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
                    await blob.CopyToAsync(copy, ct);
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, (UnixFileMode)(Convert.ToInt32(f.Mode, 8) & (keepSpecialBits ? 0xFFF : 0x1FF)));
                File.SetLastWriteTimeUtc(target, f.Modified);
            }
            steps.Add(step);

            step = "check the restored files";
            foreach (var f in manifest.Files)
                if (await StreamingWriter.HashFileAsync(ModelRestore.SafePath(fresh, f.Path), ct) != f.Sha256)
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
            Cleanup.TryDeleteDirectory(fresh);
        }
        Cleanup.TryDeleteDirectory(previous);
        return new ModelRestore.Result(manifest, destination, validate is not null, steps);
    }

}
