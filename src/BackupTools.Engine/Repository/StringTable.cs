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
        var table = new string[r.ReadInt32()];
        for (var i = 0; i < table.Length; i++) table[i] = r.ReadString();
        return table;
    }
}
