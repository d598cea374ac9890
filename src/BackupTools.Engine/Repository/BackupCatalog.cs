using BackupTools.Model;
using System.Collections.Concurrent;
using System.Text.Json;

namespace BackupTools.Engine.Repository;

/// <summary>A backup set found in the repository: its manifest and the directory it lives in.</summary>
public sealed record CatalogEntry(BackupManifest Manifest, string Path);

/// <summary>
/// The list of backup sets. The manifests are the truth; each set directory's manifests are read through a cache
/// (<see cref="CatalogIndex"/>) that is trusted only while the directory is unchanged. Directories still named
/// <c>.partial</c> or <c>.deleting</c> are never listed.
/// </summary>
public static class BackupCatalog
{
    public const string PartialSuffix = ".partial";
    /// <summary>A set being removed: renamed first, so a crash mid-delete never leaves something that looks whole.</summary>
    public const string DeletingSuffix = ".deleting";

    /// <summary>
    /// Engine directories at the repository's top level. Only these hold backup sets; others (config/ with its Git
    /// history, models/ with its own layout, _journal/ …) are never scanned as sets.
    /// </summary>
    public static IReadOnlyList<string> Engines => BackupTools.Engine.Engines.EngineRegistry.Targets.Select(e => e.Name).ToList();

    /// <summary>Lists sets, optionally narrowed to one engine, target and type; newest first.</summary>
    /// <param name="unreadable">Called with the path and reason of a manifest that could not be read.</param>
    public static IReadOnlyList<CatalogEntry> List(string repositoryRoot, string? engine = null, string? target = null,
        string? type = null, Action<string, string>? unreadable = null)
    {
        if (!Directory.Exists(repositoryRoot)) return [];
        var typeDirectories = new List<string>();
        foreach (var e in engine is null ? Engines.Select(n => System.IO.Path.Combine(repositoryRoot, n)).Where(Directory.Exists) : Level(repositoryRoot, engine))
        foreach (var t in Level(e, target))
        foreach (var y in Level(t, type))
            typeDirectories.Add(y);
        // Each set directory through its index (a cache the directory's own time keeps honest; see CatalogIndex).
        var found = new ConcurrentBag<CatalogEntry>();
        Parallel.ForEach(typeDirectories, y => CatalogIndex.Read(repositoryRoot, y, found, unreadable));
        return found.OrderByDescending(x => x.Manifest.StartTime).ThenBy(x => x.Manifest.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>Sub-directories of one level, skipping the repository's own folders (names starting with '_').</summary>
    private static IEnumerable<string> Level(string parent, string? only)
    {
        if (only is not null)
        {
            var path = System.IO.Path.Combine(parent, only);
            return Directory.Exists(path) ? [path] : [];
        }
        return Directory.EnumerateDirectories(parent).Where(d => !System.IO.Path.GetFileName(d).StartsWith('_'));
    }

    /// <summary>The directory name of an engine's sets (mariadb, redis, elasticsearch).</summary>
    public static string EngineOf(TargetEngine engine) => BackupTools.Engine.Engines.EngineRegistry.For(engine).Name;

    /// <summary>
    /// Snapshot engines (Redis, Elasticsearch) restore "to T" from the newest snapshot that ended at or before T: its
    /// state is from no later than its end. Throws <see cref="NoSnapshotException"/> saying what exists instead.
    /// </summary>
    public static CatalogEntry NewestSnapshot(string repositoryRoot, string engine, string target, DateTime pointInTime)
    {
        var snapshots = List(repositoryRoot, engine, target, "snapshot");
        return snapshots.Where(s => s.Manifest.EndTime <= pointInTime).MaxBy(s => s.Manifest.EndTime)
            ?? throw new NoSnapshotException(snapshots.Count == 0
                ? $"Target '{target}' has no snapshot in the repository. Run: Start-DbBackup -Target {target}"
                : $"Target '{target}' has no snapshot that ended at or before {Stamp(pointInTime)}; the oldest ended at {Stamp(snapshots.Min(s => s.Manifest.EndTime))}.");
    }

    private static string Stamp(DateTime utc) => Stamps.Iso(utc);
}

public sealed class NoSnapshotException(string message) : Exception(message);
