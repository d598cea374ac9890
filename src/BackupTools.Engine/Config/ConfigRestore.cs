using BackupTools.Engine.Repository;
using System.Globalization;
using System.Text;
using BackupTools.Engine.Processes;
using BackupTools.Model;
using LibGit2Sharp;

namespace BackupTools.Engine.Config;

/// <summary>What a restore of one config file would write: the version, where, and the diff against what is there.</summary>
public sealed record ConfigRestorePlan(string Path, string RepositoryPath, string CommitId, DateTime CommitTime, string Destination, byte[] Content, FileMetadata? Metadata, string Diff)
{
    /// <summary>Lines whose secret was redacted in the history and that keep the live file's value instead.</summary>
    public IReadOnlyList<int> KeptSecretLines { get; init; } = [];
}

/// <summary>
/// Puts a config file back as it was at a commit or a time: content, mode, and owner where the process may set it.
/// The current file is kept as &lt;file&gt;.before-restore-&lt;UTC time&gt;, and the new content goes to a temporary
/// file beside it that is renamed over it, so the file is never half written.
/// </summary>
public static class ConfigRestore
{
    public static ConfigRestorePlan Plan(string repositoryRoot, string path, string? commitId, DateTime? asOf, string? destination)
    {
        using var repo = ConfigHistory.Open(repositoryRoot);
        var full = System.IO.Path.GetFullPath(path);
        var relative = ConfigPaths.ToRepositoryPath(full);
        var commit = ConfigHistory.Resolve(repo, commitId, asOf);
        if (commit[relative]?.Target is not Blob blob)
            throw new ConfigHistoryException($"'{full}' is not in the config history at commit {commit.Sha[..12]} ({commit.Author.When.UtcDateTime:u}). See Get-ConfigFileHistory -Path {full}.");
        var content = ReadAll(blob);
        var target = destination is null ? full : Directory.Exists(destination) ? System.IO.Path.Combine(destination, System.IO.Path.GetFileName(full)) : System.IO.Path.GetFullPath(destination);
        var current = ReadLive(target) ?? "";
        // Secrets were committed as a placeholder: the restored file takes the live file's value on those lines.
        var (merged, kept) = SecretScanner.KeepLiveSecrets(Encoding.UTF8.GetString(content), ReadLive(full));
        if (kept.Count > 0) content = Encoding.UTF8.GetBytes(merged);
        var diff = UnifiedDiff.Create(current, Encoding.UTF8.GetString(content), target + " (now)", $"{target} (commit {commit.Sha[..12]})");
        ConfigHistory.MetadataAt(commit).TryGetValue(relative, out var meta);
        return new ConfigRestorePlan(full, relative, commit.Sha, commit.Author.When.UtcDateTime, target, content, meta, diff) { KeptSecretLines = kept };
    }

    /// <summary>
    /// The live file's text, or null when there is none. On Linux through its directory's handle and never through a
    /// symlink or into a FIFO: its owner could point the name at /etc/shadow, and the "kept" secret lines would then
    /// carry root's file into a restore the owner can read.
    /// </summary>
    private static string? ReadLive(string path)
    {
        if (!SafeDirectory.Supported) return File.Exists(path) ? File.ReadAllText(path) : null;
        var name = System.IO.Path.GetFileName(path);
        var dir = System.IO.Path.GetDirectoryName(path)!;
        if (!Directory.Exists(dir)) return null;
        using var directory = SafeDirectory.OpenPath(dir, $"to read '{path}'");
        if (directory.StatEntry(name) is null) return null;
        if (directory.LinkTarget(name) is { } link)
            throw new IOException($"'{path}' is a symlink (to '{link}'): a restore never reads or writes through one. Remove it, or restore to its target's own path.");
        using var stream = directory.OpenRead(name);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static async Task<ConfigRestoreResult> RunAsync(ConfigRestorePlan plan, Action<string>? log, CancellationToken ct)
    {
        var dir = System.IO.Path.GetDirectoryName(plan.Destination)!;
        var name = System.IO.Path.GetFileName(plan.Destination);
        Directory.CreateDirectory(dir);
        if (new FileInfo(plan.Destination).LinkTarget is { } link)
            throw new IOException($"'{plan.Destination}' is a symlink (to '{link}'): a restore never writes through one. Remove it, or restore to its target's own path.");
        string? previous = null;
        var ownerRestored = false;
        if (!SafeDirectory.Supported)
        {
            // Windows: no openat; ACLs, not modes and owners, guard its directories.
            if (File.Exists(plan.Destination))
            {
                previous = $"{plan.Destination}.before-restore-{Stamps.Compact(DateTime.UtcNow)}";
                File.Copy(plan.Destination, previous);
            }
            var plainTemp = System.IO.Path.Combine(dir, $".{name}.restore-{Guid.NewGuid():N}");
            await File.WriteAllBytesAsync(plainTemp, plan.Content, ct);
            File.Move(plainTemp, plan.Destination, overwrite: true);
        }
        else
        {
            // The config file's directory may belong to another account: everything happens through one handle to it,
            // opened without following a symlink; the new file is created O_EXCL | O_NOFOLLOW under a random name, its mode
            // and owner set on the open file (fchmod, fchown), and renamed over the old name (never through a link).
            using var directory = SafeDirectory.OpenPath(dir, $"to restore '{plan.Destination}'");
            if (File.Exists(plan.Destination))
            {
                previous = $"{name}.before-restore-{Stamps.Compact(DateTime.UtcNow)}-{Guid.NewGuid().ToString("N")[..6]}";
                await using (var copy = directory.CreateFile(previous, UnixFileMode.UserRead | UnixFileMode.UserWrite))
                await using (var source = directory.OpenRead(name)) // never through a link swapped in since
                    await source.CopyToAsync(copy, ct);
                previous = System.IO.Path.Combine(dir, previous);
            }
            var temp = $".{name}.restore-{Guid.NewGuid():N}";
            try
            {
                var mode = plan.Metadata is { } m0 ? (UnixFileMode)(Convert.ToInt32(m0.Mode, 8) & 0x1FF) : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
                await using (var file = directory.CreateFile(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite))
                {
                    await file.WriteAsync(plan.Content, ct);
                    await file.FlushAsync(ct);
                    if (OperatingSystem.IsLinux()) File.SetUnixFileMode(file.SafeFileHandle, mode);
                    if (plan.Metadata is { } m)
                    {
                        if (SafeDirectory.IsRoot)
                        {
                            SafeDirectory.SetOwner(file, m.Uid, m.Gid);
                            ownerRestored = true;
                        }
                        else log?.Invoke($"Not root: the owner {m.Owner}:{m.Group} is not set; content and mode are.");
                    }
                }
                directory.Rename(temp, name);
            }
            catch
            {
                directory.TryDelete(temp);
                throw;
            }
        }
        log?.Invoke($"Wrote {plan.Destination} as of commit {plan.CommitId[..12]}" + (previous is null ? "" : $"; the previous file is {previous}"));
        return new ConfigRestoreResult
        {
            Path = plan.Path, Commit = plan.CommitId, CommitTime = plan.CommitTime, Destination = plan.Destination, PreviousCopy = previous,
            Mode = plan.Metadata?.Mode, Owner = plan.Metadata is { } o ? $"{o.Owner}:{o.Group}" : null, OwnerRestored = ownerRestored,
        };
    }

    private static byte[] ReadAll(Blob blob)
    {
        using var s = blob.GetContentStream();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
