using System.Globalization;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// A binary log's GTID state: for every (domain, server id) pair, the last sequence number written, as MariaDB keeps it
/// in <c>@@gtid_binlog_state</c> and writes it at the head of every binlog file (the Gtid_list event). The state at the
/// end of a file is its Gtid_list updated with every GTID in the file; the next file of the same history starts with
/// exactly that state, which is how the archive proves two files continue each other. Written in one canonical form
/// (<c>0-1-15,0-2-7</c>, sorted), so equal states have equal text.
/// </summary>
public sealed class GtidState : IEquatable<GtidState>
{
    private readonly SortedDictionary<(uint Domain, uint Server), ulong> _last;

    private GtidState(SortedDictionary<(uint, uint), ulong> last) => _last = last;

    public static GtidState Empty { get; } = new(new SortedDictionary<(uint, uint), ulong>());

    public bool IsEmpty => _last.Count == 0;

    /// <summary>Parses <c>d-s-n</c> items separated by commas (spaces allowed); throws on anything else.</summary>
    public static GtidState Parse(string text)
    {
        var last = new SortedDictionary<(uint, uint), ulong>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split('-');
            if (parts.Length != 3
                || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var domain)
                || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var server)
                || !ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                throw new FormatException($"'{item}' is not a GTID (domain-server-sequence, e.g. 0-1-15).");
            last[(domain, server)] = seq;
        }
        return new GtidState(last);
    }

    /// <summary>Parses, or null for a missing value (older manifests did not record the state).</summary>
    public static GtidState? TryParse(string? text)
    {
        if (text is null) return null;
        try { return Parse(text); }
        catch (FormatException) { return null; }
    }

    /// <summary>The state after one more GTID was written.</summary>
    public GtidState With(uint domain, uint server, ulong sequence)
    {
        var last = new SortedDictionary<(uint, uint), ulong>(_last) { [(domain, server)] = sequence };
        return new GtidState(last);
    }

    /// <summary>A mutable copy, for a scanner that updates the state once per transaction.</summary>
    internal SortedDictionary<(uint Domain, uint Server), ulong> ToBuilder() => new(_last);

    internal static GtidState FromBuilder(SortedDictionary<(uint Domain, uint Server), ulong> last) => new(new SortedDictionary<(uint, uint), ulong>(last));

    public override string ToString() =>
        string.Join(",", _last.Select(p => $"{p.Key.Domain}-{p.Key.Server}-{p.Value}"));

    public bool Equals(GtidState? other) => other is not null && ToString() == other.ToString();

    public override bool Equals(object? obj) => obj is GtidState g && Equals(g);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
