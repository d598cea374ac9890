namespace BackupTools.Engine.Repository;

/// <summary>
/// The strings of a binary cache file (the catalog index, the journal's copies), each stored once and referred to by
/// number (-1 for null): the engine, the target, field names and most values repeat in every record.
/// </summary>
internal sealed class StringTable
{
    private readonly Dictionary<string, int> _numbers = new(StringComparer.Ordinal);
    private readonly List<string> _strings = [];

    public int this[string? s]
    {
        get
        {
            if (s is null) return -1;
            if (!_numbers.TryGetValue(s, out var i)) { _numbers[s] = i = _strings.Count; _strings.Add(s); }
            return i;
        }
    }

    public void WriteTo(BinaryWriter w)
    {
        w.Write(_strings.Count);
        foreach (var s in _strings) w.Write(s);
    }

    public static string[] Read(BinaryReader r)
    {
        var n = r.ReadInt32();
        if (n < 0 || n > r.BaseStream.Length - r.BaseStream.Position) throw new InvalidDataException($"a string table of {n} entries");
        var table = new string[n];
        for (var i = 0; i < table.Length; i++) table[i] = r.ReadString();
        return table;
    }

    /// <summary>
    /// Seals a cache file's bytes: a checksum of everything before it, then the magic number. A flipped bit anywhere
    /// makes the file unreadable (rebuilt from the truth), never a record that reads back different.
    /// </summary>
    public static void Seal(BinaryWriter w, int magic, byte[] written, int length)
    {
        w.Write(System.IO.Hashing.XxHash64.HashToUInt64(written.AsSpan(0, length)));
        w.Write(magic);
    }

    /// <summary>Whether a file ends with the magic number and a checksum of everything before them.</summary>
    public static bool IsSealed(byte[] bytes, int magic) =>
        bytes.Length >= 12 && BitConverter.ToInt32(bytes, bytes.Length - 4) == magic
        && BitConverter.ToUInt64(bytes, bytes.Length - 12) == System.IO.Hashing.XxHash64.HashToUInt64(bytes.AsSpan(0, bytes.Length - 12));
}
