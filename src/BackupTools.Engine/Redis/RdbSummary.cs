using BackupTools.Model;

namespace BackupTools.Engine.Redis;

/// <summary>
/// One database of a dump: its keys, how many carry a TTL, the earliest expiry, and how many hash fields carry a TTL
/// of their own (Redis 7.4+ HEXPIRE/HSETEX, Valkey 9).
/// </summary>
public sealed record RdbDatabase(int Index, long Keys, long Expires, DateTime? EarliestExpiry, long FieldExpires = 0);

/// <summary>What a walk of a whole RDB file proved about it.</summary>
/// <param name="Checked">
/// Full: every value walked and counted. Checksum: the dump is newer than the walker (an RDB version or a value type it
/// does not know), so the walk stopped and <see cref="Databases"/> is empty, but the whole-file CRC-64 matched.
/// Header: the same, with no CRC-64 in the dump (rdbchecksum no).
/// </param>
/// <param name="WrittenBy">The server and release named in the dump's aux fields ("Redis 8.0.2", "Valkey 9.0.0").</param>
/// <param name="Unwalked">Why the walk stopped early (for the warning), when <paramref name="Checked"/> is not Full.</param>
public sealed record RdbSummary(RdbHeader Header, string? WrittenBy, IReadOnlyList<RdbDatabase> Databases, bool ChecksumPresent, long Bytes,
    CheckDepth Checked = CheckDepth.Full, string? Unwalked = null)
{
    public int Version => Header.Version;
    public long TotalKeys => Databases.Sum(d => d.Keys);
}

/// <summary>The dump is damaged, cut short or impossible: never kept, never restored.</summary>
public sealed class RdbFormatException(string message) : IOException(message);
