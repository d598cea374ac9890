using System.Collections.Concurrent;
using System.Text.Json;
using static BackupTools.Engine.Repository.CatalogIndexCodec;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A cache of the manifests of one set directory (&lt;engine&gt;/&lt;target&gt;/&lt;type&gt;), so that reading 100,000
/// sets is reading a few files, not opening 100,000. The manifests stay the truth:
/// <list type="bullet">
/// <item>An index is trusted only while its directory is the same inode with the change time it was built from
/// (publishing renames <c>.partial</c> in, deleting renames to <c>.deleting</c>, and both change it; unlike the
/// modification time, no rsync -a, tar or touch can set it back), and only when the index file itself was written two
/// or more seconds after that change, by the same file system's clock (as Git does with its index): a change in the same
/// tick would leave the time as it was. Otherwise the directory is listed again; its sets keep their cached manifest
/// while their manifest file is the one it was read from (a published set never changes), others are read.</item>
/// <item>A manifest that could not be read for a passing reason (an I/O error) is reported and never cached: the index
/// is not written until every manifest reads.</item>
/// <item>The index file ends with a checksum of all it holds: a flipped bit makes it unreadable, so it is rebuilt, never
/// read as a different manifest.</item>
/// <item>Only names the directory listing holds are returned, so a crash at any moment (mid-publish, mid-delete, mid-write
/// of the index itself, which is written to a temporary name and renamed) never makes the index claim a set that is not
/// published. A missing, damaged or foreign index is rebuilt from the manifests.</item>
/// <item>A published set never changes, so a manifest edited or damaged in place (the directory's time unchanged) is not
/// seen here: Test-DbBackup reads each manifest file again and compares it with the catalog's copy.</item>
/// </list>
/// </summary>
public static class CatalogIndex
{
    public const string DirectoryName = "_catalog";
    private static readonly TimeSpan Racy = TimeSpan.FromSeconds(2);

    private static string IndexPath(string repositoryRoot, string engine, string target, string type) =>
        Path.Combine(repositoryRoot, DirectoryName, engine, target, type + ".idx");

    /// <summary>
    /// The sets of one set directory: from the index when it is current, else by listing the directory (reusing the
    /// index's manifests of sets still there) and writing the index again.
    /// </summary>
    public static void Read(string repositoryRoot, string typeDirectory, ConcurrentBag<CatalogEntry> found, Action<string, string>? unreadable)
    {
        var type = Path.GetFileName(typeDirectory);
        var targetDir = Path.GetDirectoryName(typeDirectory)!;
        var target = Path.GetFileName(targetDir);
        var engine = Path.GetFileName(Path.GetDirectoryName(targetDir)!);
        var indexPath = IndexPath(repositoryRoot, engine, target, type);
        var stamp = Stamp(typeDirectory);
        var (header, lines) = Load(indexPath);
        // Trusted when the directory is the same inode, unchanged since the index was built (its change time: what
        // rsync -a, tar or touch cannot set back), and the index file itself was written two seconds or more after
        // that change, by the same file system's clock.
        if (header is { } h && h.Change == stamp.Change && h.Inode == (long)stamp.Inode && Stamp(indexPath).Change - h.Change >= Racy.Ticks)
        {
            foreach (var line in lines) Yield(line);
            return;
        }

        var cached = lines.Where(l => l.Manifest is not null).GroupBy(l => l.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var fresh = new ConcurrentBag<Line>();
        var transient = 0;
        Parallel.ForEach(Directory.EnumerateDirectories(typeDirectory).Select(Path.GetFileName).OfType<string>()
                .Where(n => !n.EndsWith(BackupCatalog.PartialSuffix, StringComparison.Ordinal) && !n.EndsWith(BackupCatalog.DeletingSuffix, StringComparison.Ordinal)),
            name =>
            {
                var path = Path.Combine(typeDirectory, name, BackupManifest.FileName);
                var manifestStamp = Stamp(path).Change;
                // A set's manifest is reused only while the file is the one it was read from (a set fetched again
                // under the same name, or a manifest rewritten, is read again).
                if (cached.TryGetValue(name, out var known) && known.ManifestChange == manifestStamp)
                {
                    fresh.Add(known);
                    return;
                }
                try
                {
                    var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), RepositoryJson.Default.BackupManifest);
                    fresh.Add(manifest is null ? new Line(name, null, "the manifest is empty", manifestStamp) : new Line(name, manifest, null, manifestStamp));
                }
                catch (FileNotFoundException) { fresh.Add(new Line(name, null, "no manifest.json", 0)); }
                catch (DirectoryNotFoundException) { } // removed while listed
                catch (JsonException ex) { fresh.Add(new Line(name, null, ex.Message, manifestStamp)); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Maybe passing (EIO, too many open files, a network file system's timeout): reported, never cached.
                    Interlocked.Increment(ref transient);
                    fresh.Add(new Line(name, null, ex.Message, -1));
                }
            });
        foreach (var line in fresh) Yield(line);
        // The directory's stamp read before the listing: a change during the listing makes the next read list again.
        if (transient == 0) TryWrite(repositoryRoot, indexPath, new Header(stamp.Change, (long)stamp.Inode), fresh);

        void Yield(Line line)
        {
            var setPath = Path.Combine(typeDirectory, line.Name);
            if (line.Manifest is { } m) found.Add(new CatalogEntry(m, setPath));
            else unreadable?.Invoke(line.Unreadable == "no manifest.json" ? setPath : Path.Combine(setPath, BackupManifest.FileName), line.Unreadable ?? "unreadable");
        }
    }

    /// <summary>A path's change time and inode (see <see cref="SafeDirectory.ChangeStamp"/>); where unsupported, its modification time.</summary>
    private static (long Change, ulong Inode) Stamp(string path) =>
        SafeDirectory.ChangeStamp(path) ?? (File.Exists(path) ? File.GetLastWriteTimeUtc(path).Ticks : Directory.Exists(path) ? Directory.GetLastWriteTimeUtc(path).Ticks : 0, 0UL);

    /// <summary>
    /// After a set was published or removed at <paramref name="setPath"/> (&lt;root&gt;/&lt;engine&gt;/&lt;target&gt;/&lt;type&gt;/&lt;id&gt;):
    /// its directory's index is made again now, so the next read starts from it. Never fails the publish or the delete:
    /// an index that could not be written is made by the next read.
    /// </summary>
    public static void Published(string setPath)
    {
        var typeDirectory = Path.GetDirectoryName(Path.GetFullPath(setPath).TrimEnd('/'))!;
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(typeDirectory)!)!)!;
        // Anything at all: the set is published already, and the next read makes the index from the manifests.
        try { Read(root, typeDirectory, [], null); }
        catch (Exception e) when (e is not OutOfMemoryException) { }
    }

    private static (Header? Header, IReadOnlyList<Line> Lines) Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (null, []); }
        return CatalogIndexCodec.Read(bytes) is { } index ? index : (null, []); // damaged or foreign: rebuilt
    }

    private static void TryWrite(string repositoryRoot, string path, Header header, IReadOnlyCollection<Line> lines)
    {
        if (RepositoryCaches.ReadOnly) return;
        try
        {
            // Each level made private (creating the deepest alone would leave its parents at the process's umask).
            var dir = repositoryRoot;
            foreach (var part in Path.GetRelativePath(repositoryRoot, Path.GetDirectoryName(path)!).Split(Path.DirectorySeparatorChar))
                FileModes.CreatePrivateDirectory(dir = Path.Combine(dir, part));
            // A torn one is never read as whole: the rename, and the codec's closing seal.
            CacheFile.Write(path, CatalogIndexCodec.Write(header, lines));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A repository this account may read but not write (a status run by another user): the manifests serve.
        }
    }

    /// <summary>Removes every index (Test-DbBackup and the tests): the next read rebuilds them from the manifests.</summary>
    public static void Clear(string repositoryRoot)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
