namespace BackupTools.Engine.Repository;

/// <summary>
/// Writes the catalog's cache files (indexes, closed journal months): a private temp file beside the cache, renamed over
/// it, so a reader sees the old file or the new one, never a torn one. No fsync: a cache lost in a crash is rebuilt from
/// the manifests. Temps a killed writer left are removed by a later write once they are an hour old (a younger one may
/// belong to a writer still at work).
/// </summary>
internal static class CacheFile
{
    private static readonly TimeSpan StaleAfter = TimeSpan.FromHours(1);

    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = FileModes.CreatePrivateFile(temp))
                file.Write(bytes);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        SweepStale(path);
    }

    internal static void SweepStale(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        var cutoff = DateTime.UtcNow - StaleAfter;
        try
        {
            foreach (var temp in Directory.EnumerateFiles(dir, Path.GetFileName(path) + ".*.tmp"))
                if (File.GetLastWriteTimeUtc(temp) < cutoff) File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // the next write tries again
    }
}
