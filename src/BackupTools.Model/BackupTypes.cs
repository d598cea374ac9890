namespace BackupTools.Model;

/// <summary>How one backup attempt ended.</summary>
public enum BackupOutcome { Succeeded, Failed }

/// <summary>
/// How far a backup's content was checked when it was taken. Full: every value was walked and counted. Checksum: the
/// content is newer than this version of BackupTools understands, so it was not walked, but its whole-file checksum
/// matched. Header: newer content and no checksum to prove it (only the header and the end were checked).
/// </summary>
public enum CheckDepth { Full, Checksum, Header }

/// <summary>One Redis database in a snapshot: its keys, the keys with a TTL, and the hash fields with a TTL of their own (Redis 7.4+, Valkey 9).</summary>
public sealed record KeyspaceDatabase(int Index, long Keys, long KeysWithTtl, long FieldsWithTtl);

/// <summary>
/// One backup attempt, as Start-DbBackup reports it and Get-DbBackup lists it. Times are UTC. Engine-specific
/// facts (LSNs, binary log coordinates) are null where they do not apply.
/// </summary>
public sealed record BackupRecord
{
    public required string Id { get; init; }
    public required string Engine { get; init; }
    public required string Target { get; init; }
    public required string Type { get; init; }
    public required BackupOutcome Status { get; init; }
    public required DateTime StartTime { get; init; }
    public DateTime? EndTime { get; init; }
    public TimeSpan Duration { get; init; }
    public long RawBytes { get; init; }
    public long StoredBytes { get; init; }
    /// <summary>The published set's directory; null for a failed attempt (nothing is published).</summary>
    public string? Path { get; init; }
    public string? ParentId { get; init; }
    public string? FromLsn { get; init; }
    public string? ToLsn { get; init; }
    /// <summary>Full/incremental: the binary log coordinates at the backup's consistent point. Binlog: the archived file.</summary>
    public string? BinlogFile { get; init; }
    public long? BinlogPosition { get; init; }
    public string? Gtid { get; init; }
    /// <summary>MariaDB: the binary log timeline a binlog file is on, or a full/incremental started on (see about_BackupTools_PointInTimeRestore).</summary>
    public int? Timeline { get; init; }
    /// <summary>Binlog sets: the timestamps of the first and last events in the file (one-second resolution).</summary>
    public DateTime? FirstEventTime { get; init; }
    public DateTime? LastEventTime { get; init; }
    public string? ServerVersion { get; init; }
    public string? ToolVersion { get; init; }
    /// <summary>Redis: how far the dump was checked (Full, or Checksum/Header for a dump newer than this version walks); null for other engines.</summary>
    public CheckDepth? Checked { get; init; }
    /// <summary>Redis: keys, keys with a TTL and hash fields with a TTL per database, as the dump held them; null when not known.</summary>
    public IReadOnlyList<KeyspaceDatabase>? Keyspace { get; init; }
    /// <summary>A backup that was kept but not fully checked says why here (Start-DbBackup also writes it as a warning).</summary>
    public string? Warning { get; init; }
    public string? Error { get; init; }
    /// <summary>The policy file the record came from, so the next cmdlet in a pipeline binds to the same policy.</summary>
    public string? PolicyPath { get; init; }
}

public enum VerificationStatus { Verified, Corrupt, Missing }

/// <summary>Test-DbBackup's finding for one backup set.</summary>
public sealed record BackupVerification
{
    public required string Id { get; init; }
    public required string Target { get; init; }
    public required string Type { get; init; }
    public required VerificationStatus Status { get; init; }
    public int FilesChecked { get; init; }
    public long BytesChecked { get; init; }
    /// <summary>Whether mariabackup --prepare was run on the extracted chain (-Prepare), and passed.</summary>
    public bool? Prepared { get; init; }
    public TimeSpan Duration { get; init; }
    /// <summary>The offending file, when one is corrupt or missing.</summary>
    public string? File { get; init; }
    public string? Detail { get; init; }
    public string? Path { get; init; }
}
