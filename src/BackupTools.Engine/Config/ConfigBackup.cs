using BackupTools.Engine.Repository;
using BackupTools.Model;
using LibGit2Sharp;
using GitRepository = LibGit2Sharp.Repository;

namespace BackupTools.Engine.Config;

public sealed record ConfigBackupRequest
{
    public required string RepositoryRoot { get; init; }
    /// <summary>Absolute paths of files or directories, or wildcards in the last part (/etc/nginx/*.conf).</summary>
    public required IReadOnlyList<string> Paths { get; init; }
    public IReadOnlyList<string> Excludes { get; init; } = [];
    /// <summary>The policy's own secret files (passwordFile, webhookUrlFile …): never committed, whatever the paths say.</summary>
    public IReadOnlyList<string> SecretFiles { get; init; } = [];
    public string? Message { get; init; }
    public string? Remote { get; init; }
    public string? PolicyPath { get; init; }
    public Action<string>? Log { get; init; }
    public Action<string>? Warn { get; init; }
}

/// <summary>
/// Config files into Git: each watched file is copied under its full path into <c>&lt;repository&gt;/config</c>, its
/// mode and owner go into the metadata file, and one commit is made only when something was added, modified or
/// deleted. History is never rewritten. Secrets (by name, or a private key inside) never enter the work tree, so they
/// can never be committed. With a remote, the commit is pushed; a failed push is a Failed result, never silent.
/// </summary>
public static class ConfigBackup
{
    public const string RemoteName = "backup";

    public static async Task<ConfigSnapshot> RunAsync(ConfigBackupRequest request, CancellationToken ct)
    {
        ConfigRepository.EnsureInitialized(request.RepositoryRoot);
        var workTree = Path.Combine(request.RepositoryRoot, ConfigRepository.DirectoryName);
        await using var configLock = TargetLock.Acquire(request.RepositoryRoot, "config", "history");

        var patterns = ConfigPaths.DefaultSecretPatterns.Concat(request.Excludes).ToList();
        var (files, roots) = Expand(request.Paths, request.Warn);
        var skipped = new List<string>();
        var kept = new List<string>();
        foreach (var f in files)
        {
            if (request.SecretFiles.Contains(f, StringComparer.Ordinal))
            {
                skipped.Add(f);
                request.Warn?.Invoke($"Skipped '{f}': it is a secret file the policy names (passwordFile, …File); secrets do not belong in the config history.");
            }
            else if (ConfigPaths.SecretReason(f, patterns) is { } why)
            {
                skipped.Add(f);
                request.Warn?.Invoke($"Skipped '{f}': it {why}; secrets do not belong in the config history. Back it up another way (encrypted), or remove the pattern from config.exclude.");
            }
            else kept.Add(f);
        }

        using var repo = new GitRepository(workTree);
        var head = repo.Head.Tip;
        var metadata = FileMetadataStore.Read(workTree);
        var stats = await FileMetadataStore.StatAsync(kept, ct);
        var added = new List<string>();
        var modified = new List<string>();
        var deleted = new List<string>();

        foreach (var file in kept)
        {
            ct.ThrowIfCancellationRequested();
            var relative = ConfigPaths.ToRepositoryPath(file);
            var copy = Path.Combine(workTree, relative);
            var known = head?[relative] is not null;
            // What is committed: the file with every secret value replaced (the live file is not changed).
            var content = File.ReadAllBytes(file);
            if (SecretScanner.Redact(content) is ({ } redacted, { Count: > 0 } hits))
            {
                content = redacted;
                foreach (var hit in hits)
                    request.Warn?.Invoke($"'{file}' line {hit.Line}: {hit.Kind}; committed with the value replaced by {SecretScanner.Placeholder} (the live file is unchanged).");
            }
            var contentChanged = !File.Exists(copy) || !content.AsSpan().SequenceEqual(File.ReadAllBytes(copy));
            stats.TryGetValue(file, out var meta);
            var metaChanged = meta is not null && (!metadata.TryGetValue(relative, out var old) || old != meta);
            if (contentChanged)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                await File.WriteAllBytesAsync(copy, content, ct);
            }
            if (meta is not null) metadata[relative] = meta;
            if (!known) added.Add(file);
            else if (contentChanged || metaChanged) modified.Add(file);
        }

        // Deleted: in the history under a watched root, but gone from the machine (or now a secret by pattern).
        var present = kept.Select(f => ConfigPaths.ToRepositoryPath(f)).ToHashSet(StringComparer.Ordinal);
        foreach (var relative in TrackedFiles(head))
        {
            var original = ConfigPaths.FromRepositoryPath(relative);
            if (present.Contains(relative) || !roots.Any(r => Under(original, r))) continue;
            File.Delete(Path.Combine(workTree, relative));
            metadata.Remove(relative);
            deleted.Add(original);
        }

        FileMetadataStore.Write(workTree, metadata);
        Commands.Stage(repo, "*");
        var status = repo.RetrieveStatus(new StatusOptions());
        if (!status.IsDirty)
        {
            request.Log?.Invoke("Nothing changed since the last commit: no commit made.");
            return new ConfigSnapshot
            {
                Status = ConfigSnapshotStatus.Unchanged, Commit = head?.Sha, Time = head?.Author.When.UtcDateTime ?? DateTime.UtcNow,
                Skipped = skipped, Repository = workTree, PolicyPath = request.PolicyPath, Message = head?.MessageShort,
            };
        }
        var message = request.Message ?? $"Config backup on {Environment.MachineName}: {added.Count} added, {modified.Count} modified, {deleted.Count} deleted";
        var body = string.Join("\n", added.Select(a => "A " + a).Concat(modified.Select(m => "M " + m)).Concat(deleted.Select(d => "D " + d)));
        var who = ConfigRepository.Signature();
        var commit = repo.Commit(message + (body.Length > 0 ? "\n\n" + body + "\n" : "\n"), who, who);
        request.Log?.Invoke($"Committed {commit.Sha[..12]}: {message}");

        var snapshot = new ConfigSnapshot
        {
            Status = ConfigSnapshotStatus.Committed, Commit = commit.Sha, Time = commit.Author.When.UtcDateTime, Message = message,
            Added = added, Modified = modified, Deleted = deleted, Skipped = skipped, Repository = workTree, PolicyPath = request.PolicyPath,
            Remote = request.Remote,
        };
        return request.Remote is null ? snapshot : Push(repo, request.Remote, snapshot, request.Log);
    }

    /// <summary>Pushes the current branch to the remote; a failure keeps the commit and becomes a Failed result with the reason.</summary>
    private static ConfigSnapshot Push(GitRepository repo, string url, ConfigSnapshot snapshot, Action<string>? log)
    {
        try
        {
            var remote = repo.Network.Remotes[RemoteName];
            if (remote is null) repo.Network.Remotes.Add(RemoteName, url);
            else if (remote.Url != url) repo.Network.Remotes.Update(RemoteName, r => r.Url = url);
            var branch = repo.Head.CanonicalName;
            string? rejected = null;
            repo.Network.Push(repo.Network.Remotes[RemoteName], $"{branch}:{branch}",
                new PushOptions { OnPushStatusError = e => rejected = $"{e.Reference}: {e.Message}" });
            if (rejected is not null) throw new LibGit2SharpException("the remote rejected " + rejected);
            log?.Invoke($"Pushed {branch} to {url}");
            return snapshot with { Pushed = true };
        }
        catch (LibGit2SharpException e)
        {
            return snapshot with
            {
                Status = ConfigSnapshotStatus.Failed, Pushed = false,
                Error = $"Committed {snapshot.Commit?[..12]} locally, but the push to '{url}' failed: {e.Message}. The commit stays; the next run pushes it. Check config.remote and that it is reachable.",
            };
        }
    }

    /// <summary>The files of the given paths (directories recursively, wildcards in the last part), and the roots watched for deletions.</summary>
    private static (List<string> Files, List<string> Roots) Expand(IReadOnlyList<string> paths, Action<string>? warn)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        var roots = new List<string>();
        foreach (var raw in paths)
        {
            var path = Path.GetFullPath(raw);
            var name = Path.GetFileName(path);
            if (name.Contains('*') || name.Contains('?'))
            {
                var dir = Path.GetDirectoryName(path)!;
                roots.Add(path); // deletions are judged by the pattern too
                if (Directory.Exists(dir))
                    foreach (var f in Directory.EnumerateFiles(dir, name).Where(IsRegularFile)) files.Add(f);
                continue;
            }
            roots.Add(path);
            if (File.Exists(path))
            {
                if (IsRegularFile(path)) files.Add(path);
            }
            else if (Directory.Exists(path))
            {
                var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
                foreach (var f in Directory.EnumerateFiles(path, "*", options).Where(IsRegularFile)) files.Add(f);
            }
            else warn?.Invoke($"'{path}' does not exist; if it was backed up before, its history records it as deleted.");
        }
        return (files.ToList(), roots);
    }

    private static bool IsRegularFile(string path) => !new FileInfo(path).Attributes.HasFlag(FileAttributes.ReparsePoint);

    private static bool Under(string path, string root)
    {
        var name = Path.GetFileName(root);
        if (name.Contains('*') || name.Contains('?'))
            return Path.GetDirectoryName(path) == Path.GetDirectoryName(root) && ConfigPaths.Glob(name).IsMatch(Path.GetFileName(path));
        return path == root || path.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal);
    }

    private static IEnumerable<string> TrackedFiles(Commit? head)
    {
        if (head is null) yield break;
        var stack = new Stack<(Tree Tree, string Prefix)>();
        stack.Push((head.Tree, ""));
        while (stack.Count > 0)
        {
            var (tree, prefix) = stack.Pop();
            foreach (var entry in tree)
            {
                var path = prefix + entry.Name;
                if (entry.TargetType == TreeEntryTargetType.Tree)
                {
                    if (path != ".backuptools") stack.Push(((Tree)entry.Target, path + "/"));
                }
                else if (prefix.Length > 0) yield return path; // files at the top (README.md) are ours, not the machine's
            }
        }
    }

}
