namespace BackupTools.Engine.Repository;

/// <summary>
/// The binary form of a catalog index: a header, one table of every distinct string, then each set as numbers and
/// string-table references, and the magic number again at the end (a truncated file is never read as whole). JSON of
/// 25,000 manifests is 22 MB and a third of a second to parse; this is a few MB, read in tens of milliseconds, and
/// every repeated string (engine, target, field names, the log basename …) is one object. Every field of
/// <see cref="BackupManifest"/> and <see cref="WrittenFile"/> is written; a test fails when one is added and not here.
/// </summary>
internal static class CatalogIndexCodec
{
    private const int Magic = 0x31494342; // "BCI1"
    private const int Version = 2;

    /// <param name="ManifestChange">The manifest file's change time when it was read (-1: not to be reused).</param>
    internal sealed record Line(string Name, BackupManifest? Manifest, string? Unreadable, long ManifestChange);

    /// <param name="Change">The set directory's change time, and its inode, when it was listed.</param>
    internal sealed record Header(long Change, long Inode);

    public static byte[] Write(Header header, IReadOnlyCollection<Line> lines)
    {
        var table = new StringTable();
        int S(string? s) => table[s];
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
            foreach (var line in lines)
            {
                w.Write(S(line.Name));
                w.Write(line.ManifestChange);
                if (line.Manifest is not { } m)
                {
                    w.Write((byte)1);
                    w.Write(S(line.Unreadable ?? "unreadable"));
                    continue;
                }
                w.Write((byte)0);
                w.Write(S(m.Schema)); w.Write(m.SchemaVersion); w.Write(S(m.Id)); w.Write(S(m.Engine)); w.Write(S(m.Target)); w.Write(S(m.Type));
                w.Write(m.StartTime.Ticks); w.Write((byte)m.StartTime.Kind); w.Write(m.EndTime.Ticks); w.Write((byte)m.EndTime.Kind);
                w.Write(m.DurationSeconds); w.Write(m.RawBytes); w.Write(m.StoredBytes);
                w.Write(S(m.ParentId)); w.Write(S(m.ToolVersion)); w.Write(S(m.ServerVersion)); w.Write(S(m.Host)); w.Write(S(m.BackupToolsVersion));
                w.Write(m.Files.Count);
                foreach (var f in m.Files)
                {
                    w.Write(S(f.Name)); w.Write(f.RawBytes); w.Write(f.StoredBytes); w.Write(S(f.Compression)); w.Write(S(f.Sha256)); w.Write(S(f.RawSha256)); w.Write(S(f.KeyId));
                }
                w.Write(m.EngineFields.Count);
                foreach (var (k, v) in m.EngineFields) { w.Write(S(k)); w.Write(S(v)); }
            }
        using var file = new MemoryStream();
        using (var w = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic); w.Write(Version); w.Write(header.Change); w.Write(header.Inode); w.Write(lines.Count);
            table.WriteTo(w);
            w.Write(body.GetBuffer(), 0, (int)body.Length);
            w.Flush();
            StringTable.Seal(w, Magic, file.GetBuffer(), (int)file.Length);
        }
        return file.ToArray();
    }

    /// <summary>The header and lines, or null when the bytes are not a whole index of this version.</summary>
    public static (Header Header, IReadOnlyList<Line> Lines)? Read(byte[] bytes)
    {
        if (bytes.Length < 44 || !StringTable.IsSealed(bytes, Magic)) return null;
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
            if (r.ReadInt32() != Magic || r.ReadInt32() != Version) return null;
            var header = new Header(r.ReadInt64(), r.ReadInt64());
            var count = Count(r, bytes);
            var table = StringTable.Read(r);
            string? S() { var i = r.ReadInt32(); return i < 0 ? null : table[i]; }
            string N() => S() ?? throw new InvalidDataException("a required string is missing");
            var lines = new Line[count];
            for (var l = 0; l < count; l++)
            {
                var name = N();
                var change = r.ReadInt64();
                if (r.ReadByte() == 1)
                {
                    lines[l] = new Line(name, null, N(), change);
                    continue;
                }
                var schema = N(); var schemaVersion = r.ReadInt32(); var id = N(); var engine = N(); var target = N(); var type = N();
                var start = new DateTime(r.ReadInt64(), (DateTimeKind)r.ReadByte());
                var end = new DateTime(r.ReadInt64(), (DateTimeKind)r.ReadByte());
                var duration = r.ReadDouble(); var raw = r.ReadInt64(); var stored = r.ReadInt64();
                var parent = S(); var tool = S(); var server = S(); var host = S(); var btVersion = S();
                var files = new WrittenFile[Count(r, bytes)];
                for (var i = 0; i < files.Length; i++)
                    files[i] = new WrittenFile(N(), r.ReadInt64(), r.ReadInt64(), N(), N(), N()) { KeyId = S() };
                var fieldCount = Count(r, bytes);
                var fields = new Dictionary<string, string>(fieldCount);
                for (var i = 0; i < fieldCount; i++) fields[N()] = N();
                lines[l] = new Line(name, new BackupManifest
                {
                    Schema = schema, SchemaVersion = schemaVersion, Id = id, Engine = engine, Target = target, Type = type, StartTime = start, EndTime = end,
                    DurationSeconds = duration, RawBytes = raw, StoredBytes = stored, ParentId = parent, ToolVersion = tool, ServerVersion = server, Host = host,
                    BackupToolsVersion = btVersion, Files = files, EngineFields = fields,
                }, null, change);
            }
            return r.BaseStream.Position == bytes.Length - 12 ? (header, lines) : null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null; // whatever is wrong with it, the manifests rebuild it
        }
    }

    /// <summary>A count read from the file, refused when more items than bytes are left (a damaged count never allocates gigabytes).</summary>
    internal static int Count(BinaryReader r, byte[] bytes)
    {
        var n = r.ReadInt32();
        if (n < 0 || n > bytes.Length - r.BaseStream.Position) throw new InvalidDataException($"a count of {n} in a file of {bytes.Length} bytes");
        return n;
    }
}
