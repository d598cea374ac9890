using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>MariaDB's view of the catalog: chains of full and incremental sets, and archived binary logs.</summary>
public static class MariaDbCatalog
{
    public const string Engine = "mariadb";
    public const string Full = "full";
    public const string Incremental = "incremental";
    public const string Binlog = "binlog";
    public const string StreamFileName = "backup.mbstream";

    /// <summary>
    /// The set a new incremental continues from: the newest full or incremental. Sets are published only when whole,
    /// so the newest is the head of the current chain (an incremental taken after the newest full hangs off it).
    /// </summary>
    public static CatalogEntry? ChainHead(string repositoryRoot, string target) =>
        BackupCatalog.List(repositoryRoot, Engine, target)
            .FirstOrDefault(e => e.Manifest.Type is Full or Incremental);

    /// <summary>The sets to restore <paramref name="last"/>: its full first, then each incremental in order.</summary>
    public static IReadOnlyList<CatalogEntry> Chain(string repositoryRoot, CatalogEntry last) =>
        Chain(last, BackupCatalog.List(repositoryRoot, Engine, last.Manifest.Target)
            .Where(e => e.Manifest.Type is Full or Incremental)
            .ToDictionary(e => e.Manifest.Id, StringComparer.Ordinal));

    /// <summary>The chain from sets already listed (keyed by id), for callers that walk many chains.</summary>
    public static IReadOnlyList<CatalogEntry> Chain(CatalogEntry last, IReadOnlyDictionary<string, CatalogEntry> byId)
    {
        var chain = new List<CatalogEntry> { last };
        var current = last;
        while (current.Manifest.Type == Incremental)
        {
            var parentId = current.Manifest.ParentId
                ?? throw new InvalidDataException($"Incremental backup {current.Manifest.Id} records no parent; its chain cannot be rebuilt.");
            if (!byId.TryGetValue(parentId, out var parent))
                throw new InvalidDataException(
                    $"Backup {current.Manifest.Id} continues {parentId}, which is no longer in the repository; this chain cannot be restored.");
            chain.Add(parent);
            current = parent;
        }
        chain.Reverse();
        return chain;
    }

    /// <summary>The backup stream file of a set (its name carries the compression suffix).</summary>
    public static WrittenFile StreamFile(BackupManifest manifest) =>
        manifest.Files.FirstOrDefault(f => f.Name.StartsWith(StreamFileName, StringComparison.Ordinal))
        ?? throw new InvalidDataException($"Backup {manifest.Id} has no {StreamFileName} file in its manifest.");
}
