using LibGit2Sharp;
using GitRepository = LibGit2Sharp.Repository;

namespace BackupTools.Engine.Config;

/// <summary>
/// The Git repository under <c>&lt;repository&gt;/config</c> where config files are kept forever, one commit per change.
/// </summary>
public static class ConfigRepository
{
    public const string DirectoryName = "config";

    /// <summary>Creates the repository with a first commit if it does not exist; returns its HEAD commit id.</summary>
    public static string EnsureInitialized(string repositoryRoot)
    {
        var path = Path.Combine(repositoryRoot, DirectoryName);
        if (!GitRepository.IsValid(path))
        {
            GitRepository.Init(path);
            using var repo = new GitRepository(path);
            File.WriteAllText(Path.Combine(path, "README.md"),
                "# Config history\n\nKept by BackupTools: one commit per change of a watched config file. Do not edit by hand.\n");
            Commands.Stage(repo, "README.md");
            var who = Signature();
            repo.Commit("Start the config history", who, who);
        }
        using var existing = new GitRepository(path);
        return existing.Head.Tip?.Sha ?? "";
    }

    /// <summary>The HEAD commit id, or null when there is no config repository yet.</summary>
    public static string? Head(string repositoryRoot)
    {
        var path = Path.Combine(repositoryRoot, DirectoryName);
        if (!GitRepository.IsValid(path)) return null;
        using var repo = new GitRepository(path);
        return repo.Head.Tip?.Sha;
    }

    internal static Signature Signature() =>
        new("BackupTools", "backuptools@" + Environment.MachineName, DateTimeOffset.UtcNow);
}
