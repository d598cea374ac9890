namespace BackupTools.Engine.Repository;

/// <summary>
/// A binary copy of the parsed entries of one month of the run journal (<c>_catalog/journal/&lt;month&gt;.idx</c>), so a
/// status over a year of runs does not parse a hundred thousand JSON lines each time. The month file stays the truth: the
/// copy is used only while the file has exactly the length and modification time it was made from (the journal is only
/// ever appended to), so the month being written is parsed as ever and a closed month is read in milliseconds. A
/// missing, torn or foreign copy is made again.
/// </summary>
internal static class JournalCache
{
    private const int Magic = 0x314A4342; // "BCJ1"

    public static List<JournalEntry> Read(string repositoryRoot, string monthFile, Func<(List<JournalEntry> Entries, List<string> Warnings)> parse, Action<string>? warn)
    {
        var info = new FileInfo(monthFile);
        var (length, mtime) = (info.Length, info.LastWriteTimeUtc.Ticks);
        var cachePath = Path.Combine(repositoryRoot, CatalogIndex.DirectoryName, "journal", Path.GetFileNameWithoutExtension(monthFile) + ".idx");
        if (Load(cachePath, length, mtime) is { } cached)
        {
            foreach (var w in cached.Warnings) warn?.Invoke(w);
            return cached.Entries;
        }
        var (entries, warnings) = parse();
        foreach (var w in warnings) warn?.Invoke(w);
        // Only a month not changed in the last two seconds is kept: an append in the same tick of the file system's
        // clock would leave its time as it was (the length would still differ, but both together are the rule).
        if (DateTime.UtcNow.Ticks - mtime >= TimeSpan.FromSeconds(2).Ticks && new FileInfo(monthFile) is { } after && after.Length == length && after.LastWriteTimeUtc.Ticks == mtime)
            TryWrite(repositoryRoot, cachePath, length, mtime, entries, warnings);
        return entries;
    }

    private static (List<JournalEntry> Entries, List<string> Warnings)? Load(string path, long length, long mtime)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (bytes.Length < 40 || !StringTable.IsSealed(bytes, Magic)) return null;
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
            if (r.ReadInt32() != Magic || r.ReadInt64() != length || r.ReadInt64() != mtime) return null;
            var table = StringTable.Read(r);
            string? S() { var i = r.ReadInt32(); return i < 0 ? null : table[i]; }
            string N() => S() ?? throw new InvalidDataException("a required string is missing");
            var warnings = new List<string>();
            for (var n = CatalogIndexCodec.Count(r, bytes); n > 0; n--) warnings.Add(N());
            var entries = new List<JournalEntry>(CatalogIndexCodec.Count(r, bytes));
            for (var n = entries.Capacity; n > 0; n--)
                entries.Add(new JournalEntry
                {
                    Time = new DateTime(r.ReadInt64(), (DateTimeKind)r.ReadByte()), Engine = N(), Target = N(), Type = N(), Status = N(), Id = S(),
                    DurationSeconds = r.ReadDouble(), StoredBytes = r.ReadInt64(), Error = S(), Host = S(), ProcessId = r.ReadInt32(),
                });
            return r.BaseStream.Position == bytes.Length - 12 ? (entries, warnings) : null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null; // whatever is wrong with the copy, the month file is read again
        }
    }

    private static void TryWrite(string repositoryRoot, string path, long length, long mtime, List<JournalEntry> entries, List<string> warnings)
    {
        if (RepositoryCaches.ReadOnly) return;
        var table = new StringTable();
        int S(string? s) => table[s];
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(warnings.Count);
            foreach (var x in warnings) w.Write(S(x));
            w.Write(entries.Count);
            foreach (var e in entries)
            {
                w.Write(e.Time.Ticks); w.Write((byte)e.Time.Kind); w.Write(S(e.Engine)); w.Write(S(e.Target)); w.Write(S(e.Type)); w.Write(S(e.Status));
                w.Write(S(e.Id)); w.Write(e.DurationSeconds); w.Write(e.StoredBytes); w.Write(S(e.Error)); w.Write(S(e.Host)); w.Write(e.ProcessId);
            }
        }
        try
        {
            var dir = repositoryRoot;
            foreach (var part in new[] { CatalogIndex.DirectoryName, "journal" }) FileModes.CreatePrivateDirectory(dir = Path.Combine(dir, part));
            using var whole = new MemoryStream();
            using (var w = new BinaryWriter(whole, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic); w.Write(length); w.Write(mtime);
                table.WriteTo(w);
                w.Write(body.GetBuffer(), 0, (int)body.Length);
                w.Flush();
                StringTable.Seal(w, Magic, whole.GetBuffer(), (int)whole.Length);
            }
            CacheFile.Write(path, whole.GetBuffer().AsSpan(0, (int)whole.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Read-only to this account: the month files serve.
        }
    }
}
