using System.Collections.Concurrent;
using System.Text.Json;
using static BackupTools.Engine.Repository.CatalogIndexCodec;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A cache of the manifests of one set directory (&lt;engine&gt;/&lt;target&gt;/&lt;type&gt;), so that reading 100,000
/// sets is reading a few files, not opening 100,000. The manifests stay the truth:
/// <list type="bullet">
/// <item>An index is trusted only while its directory's modification time is the one it was built from. Publishing
/// (a rename of <c>.partial</c>), deleting (a rename to <c>.deleting</c>) and a crash's leftovers all change it, so a
/// changed directory is listed again; its sets still present keep their cached manifest (a published set never
/// changes), new ones are read from their manifest.</item>
/// <item>An index built less than two seconds after its directory last changed is not trusted either (as Git does with
/// its index): a change in the same tick of the file system's clock would leave the time as it was.</item>
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
        var mtime = Directory.GetLastWriteTimeUtc(typeDirectory).Ticks;
        var (header, lines) = Load(indexPath);
        if (header is { } h && h.Mtime == mtime && h.Built - h.Mtime >= Racy.Ticks)
        {
            foreach (var line in lines) Yield(line);
            return;
        }

        var cached = lines.Where(l => l.Manifest is not null).GroupBy(l => l.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Manifest!, StringComparer.Ordinal);
        var built = DateTime.UtcNow.Ticks;
        var fresh = new ConcurrentBag<Line>();
        Parallel.ForEach(Directory.EnumerateDirectories(typeDirectory).Select(Path.GetFileName).OfType<string>()
                .Where(n => !n.EndsWith(BackupCatalog.PartialSuffix, StringComparison.Ordinal) && !n.EndsWith(BackupCatalog.DeletingSuffix, StringComparison.Ordinal)),
            name =>
            {
                if (cached.TryGetValue(name, out var known))
                {
                    fresh.Add(new Line(name, known, null));
                    return;
                }
                var path = Path.Combine(typeDirectory, name, BackupManifest.FileName);
                try
                {
                    var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), RepositoryJson.Default.BackupManifest);
                    fresh.Add(manifest is null ? new Line(name, null, "the manifest is empty") : new Line(name, manifest, null));
                }
                catch (FileNotFoundException) { fresh.Add(new Line(name, null, "no manifest.json")); }
                catch (DirectoryNotFoundException) { } // removed while listed
                catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
                {
                    fresh.Add(new Line(name, null, ex.Message));
                }
            });
        foreach (var line in fresh) Yield(line);
        // The directory's time read before the listing: a change during the listing makes the next read list again.
        TryWrite(repositoryRoot, indexPath, new Header(mtime, built), fresh);

        void Yield(Line line)
        {
            var setPath = Path.Combine(typeDirectory, line.Name);
            if (line.Manifest is { } m) found.Add(new CatalogEntry(m, setPath));
            else unreadable?.Invoke(line.Unreadable == "no manifest.json" ? setPath : Path.Combine(setPath, BackupManifest.FileName), line.Unreadable ?? "unreadable");
        }
    }

    /// <summary>
    /// After a set was published or removed at <paramref name="setPath"/> (&lt;root&gt;/&lt;engine&gt;/&lt;target&gt;/&lt;type&gt;/&lt;id&gt;):
    /// its directory's index is made again now, so the next read starts from it. Never fails the publish or the delete:
    /// an index that could not be written is made by the next read.
    /// </summary>
    public static void Published(string setPath)
    {
        var typeDirectory = Path.GetDirectoryName(Path.GetFullPath(setPath).TrimEnd('/'))!;
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(typeDirectory)!)!)!;
        try { Read(root, typeDirectory, [], null); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static (Header? Header, IReadOnlyList<Line> Lines) Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (null, []); }
        return CatalogIndexCodec.Read(bytes) is { } index ? index : (null, []);
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
            var temp = $"{path}.{Guid.NewGuid():N}.tmp";
            using (var file = FileModes.CreatePrivateFile(temp))
                file.Write(CatalogIndexCodec.Write(header, lines));
            // No fsync: a cache lost in a crash is rebuilt; what matters is that a torn one is never read as whole (the
            // rename, and the codec's closing magic number).
            File.Move(temp, path, overwrite: true);
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
