using BackupTools.Engine.Config;
using BackupTools.Model;

namespace BackupTools.Engine.Repository;

/// <summary>Creating and describing a backup repository as a whole.</summary>
public static class RepositoryService
{
    /// <summary>Creates the layout (0700), the journal folder and the config Git repository; safe to repeat.</summary>
    public static RepositoryInfo Initialize(string root)
    {
        FileModes.CreatePrivateDirectory(root);
        FileModes.CreatePrivateDirectory(Path.Combine(root, RunJournal.DirectoryName));
        FileModes.CreatePrivateDirectory(Path.Combine(root, TargetLock.DirectoryName));
        ConfigRepository.EnsureInitialized(root);
        return Describe(root);
    }

    public static RepositoryInfo Describe(string root)
    {
        var (total, free) = Directory.Exists(root) ? Status.StatusService.FileSystemSpace(Path.GetFullPath(root)) : (0, 0);
        return new RepositoryInfo
        {
            Path = root,
            BackupSets = BackupCatalog.List(root).Count,
            JournalEntries = RunJournal.Read(root).Count,
            PartialSets = CountPartials(root),
            ConfigRepository = Path.Combine(root, ConfigRepository.DirectoryName),
            ConfigHead = ConfigRepository.Head(root),
            TotalBytes = total,
            FreeBytes = free,
        };
    }

    private static int CountPartials(string root) => !Directory.Exists(root) ? 0 :
        Directory.EnumerateDirectories(root)
            .Where(d => !Path.GetFileName(d).StartsWith('_') && Path.GetFileName(d) != ConfigRepository.DirectoryName)
            .SelectMany(e => Directory.EnumerateDirectories(e))
            .SelectMany(t => Directory.EnumerateDirectories(t))
            .Sum(y => Directory.EnumerateDirectories(y, "*" + BackupCatalog.PartialSuffix).Count());
}
