using BackupTools.Model;
using LibGit2Sharp;
using GitRepository = LibGit2Sharp.Repository;

namespace BackupTools.Engine.Config;

public sealed class ConfigHistoryException(string message) : Exception(message);

/// <summary>Reads the config history: which commits changed a file, and a file as it was at a commit or a time.</summary>
public static class ConfigHistory
{
    /// <summary>One entry per file a commit changed, newest first; only files under <paramref name="path"/> when given.</summary>
    public static IReadOnlyList<ConfigHistoryEntry> List(string repositoryRoot, string? path, DateTime? after, DateTime? before, int? last, string? policyPath)
    {
        using var repo = Open(repositoryRoot);
        var prefix = path is null ? null : ConfigPaths.ToRepositoryPath(Path.GetFullPath(path));
        var result = new List<ConfigHistoryEntry>();
        foreach (var commit in repo.Commits.QueryBy(new CommitFilter { SortBy = CommitSortStrategies.Time | CommitSortStrategies.Topological }))
        {
            var time = commit.Author.When.UtcDateTime;
            if (after is { } a && time < a) continue;
            if (before is { } b && time > b) continue;
            var parent = commit.Parents.FirstOrDefault();
            var changes = repo.Diff.Compare<TreeChanges>(parent?.Tree, commit.Tree);
            var entries = changes
                .Where(c => !c.Path.StartsWith(".backuptools/", StringComparison.Ordinal) && c.Path.Contains('/'))
                .Where(c => prefix is null || c.Path == prefix || c.Path.StartsWith(prefix.TrimEnd('/') + "/", StringComparison.Ordinal))
                .Select(c => new ConfigHistoryEntry
                {
                    Commit = commit.Sha, Time = time, Message = commit.MessageShort, Path = ConfigPaths.FromRepositoryPath(c.Path),
                    Change = c.Status switch { ChangeKind.Added => ConfigChange.Added, ChangeKind.Deleted => ConfigChange.Deleted, _ => ConfigChange.Modified },
                    PolicyPath = policyPath,
                })
                .ToList();
            // A change of mode or owner only is a change of the metadata file: report it for the files it concerns.
            if (changes.Any(c => c.Path == FileMetadataStore.RelativePath))
            {
                var oldMeta = MetadataAt(parent);
                var newMeta = MetadataAt(commit);
                foreach (var (file, meta) in newMeta)
                {
                    if (oldMeta.TryGetValue(file, out var o) && o != meta && entries.All(e => ConfigPaths.ToRepositoryPath(e.Path) != file) &&
                        (prefix is null || file == prefix || file.StartsWith(prefix.TrimEnd('/') + "/", StringComparison.Ordinal)))
                        entries.Add(new ConfigHistoryEntry
                        {
                            Commit = commit.Sha, Time = time, Message = commit.MessageShort, Path = ConfigPaths.FromRepositoryPath(file),
                            Change = ConfigChange.Modified, PolicyPath = policyPath,
                        });
                }
            }
            result.AddRange(entries.OrderBy(e => e.Path, StringComparer.Ordinal));
        }
        if (last is { } n)
        {
            var commits = result.Select(e => e.Commit).Distinct().Take(n).ToHashSet();
            result = result.Where(e => commits.Contains(e.Commit)).ToList();
        }
        return result;
    }

    /// <summary>The commit a restore uses: by id (a unique prefix is enough) or the newest at or before a time.</summary>
    public static Commit Resolve(GitRepository repo, string? commitId, DateTime? asOf)
    {
        if (commitId is not null)
        {
            var found = repo.Lookup<Commit>(commitId);
            return found ?? throw new ConfigHistoryException($"No commit '{commitId}' in the config history. List them with Get-ConfigFileHistory.");
        }
        var at = asOf ?? DateTime.UtcNow;
        // Topological too: commit times have one-second resolution, and of two commits in one second the child is newer.
        return repo.Commits.QueryBy(new CommitFilter { SortBy = CommitSortStrategies.Time | CommitSortStrategies.Topological })
                   .FirstOrDefault(c => c.Author.When.UtcDateTime <= at)
               ?? throw new ConfigHistoryException($"The config history has no commit at or before {at:u}.");
    }

    public static SortedDictionary<string, FileMetadata> MetadataAt(Commit? commit) =>
        commit?[FileMetadataStore.RelativePath]?.Target is Blob blob
            ? FileMetadataStore.Parse(blob.GetContentText())
            : new SortedDictionary<string, FileMetadata>(StringComparer.Ordinal);

    public static GitRepository Open(string repositoryRoot)
    {
        var path = Path.Combine(repositoryRoot, ConfigRepository.DirectoryName);
        if (!GitRepository.IsValid(path))
            throw new ConfigHistoryException($"There is no config history at '{path}' yet. Run Backup-ConfigFile (or Initialize-BackupRepository) first.");
        return new GitRepository(path);
    }
}
