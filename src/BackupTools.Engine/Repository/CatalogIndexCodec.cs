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
    private const int Version = 1;

    internal sealed record Line(string Name, BackupManifest? Manifest, string? Unreadable);

    internal sealed record Header(long Mtime, long Built);

    public static byte[] Write(Header header, IReadOnlyCollection<Line> lines)
    {
        var table = new StringTable();
        int S(string? s) => table[s];
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
            foreach (var line in lines)
            {
                w.Write(S(line.Name));
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
            w.Write(Magic); w.Write(Version); w.Write(header.Mtime); w.Write(header.Built); w.Write(lines.Count);
            table.WriteTo(w);
            w.Write(body.GetBuffer(), 0, (int)body.Length);
            w.Write(Magic);
        }
        return file.ToArray();
    }

    /// <summary>The header and lines, or null when the bytes are not a whole index of this version.</summary>
    public static (Header Header, IReadOnlyList<Line> Lines)? Read(byte[] bytes)
    {
        if (bytes.Length < 36 || BitConverter.ToInt32(bytes, bytes.Length - 4) != Magic) return null;
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
            if (r.ReadInt32() != Magic || r.ReadInt32() != Version) return null;
            var header = new Header(r.ReadInt64(), r.ReadInt64());
            var count = r.ReadInt32();
            var table = StringTable.Read(r);
            string? S() { var i = r.ReadInt32(); return i < 0 ? null : table[i]; }
            string N() => S() ?? throw new InvalidDataException("a required string is missing");
            var lines = new Line[count];
            for (var l = 0; l < count; l++)
            {
                var name = N();
                if (r.ReadByte() == 1)
                {
                    lines[l] = new Line(name, null, N());
                    continue;
                }
                var schema = N(); var schemaVersion = r.ReadInt32(); var id = N(); var engine = N(); var target = N(); var type = N();
                var start = new DateTime(r.ReadInt64(), (DateTimeKind)r.ReadByte());
                var end = new DateTime(r.ReadInt64(), (DateTimeKind)r.ReadByte());
                var duration = r.ReadDouble(); var raw = r.ReadInt64(); var stored = r.ReadInt64();
                var parent = S(); var tool = S(); var server = S(); var host = S(); var btVersion = S();
                var files = new WrittenFile[r.ReadInt32()];
                for (var i = 0; i < files.Length; i++)
                    files[i] = new WrittenFile(N(), r.ReadInt64(), r.ReadInt64(), N(), N(), N()) { KeyId = S() };
                var fieldCount = r.ReadInt32();
                var fields = new Dictionary<string, string>(fieldCount);
                for (var i = 0; i < fieldCount; i++) fields[N()] = N();
                lines[l] = new Line(name, new BackupManifest
                {
                    Schema = schema, SchemaVersion = schemaVersion, Id = id, Engine = engine, Target = target, Type = type, StartTime = start, EndTime = end,
                    DurationSeconds = duration, RawBytes = raw, StoredBytes = stored, ParentId = parent, ToolVersion = tool, ServerVersion = server, Host = host,
                    BackupToolsVersion = btVersion, Files = files, EngineFields = fields,
                }, null);
            }
            return r.ReadInt32() == Magic && r.BaseStream.Position == bytes.Length ? (header, lines) : null;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or InvalidDataException or IndexOutOfRangeException or ArgumentException or FormatException)
        {
            return null;
        }
    }
}
