namespace BackupTools.Model;

/// <summary>
/// What a point-in-time restore will do, checked before anything is touched: the backup chain, the binary logs to
/// replay from the exact start position, and the window the catalog can serve. Times are UTC.
/// </summary>
public sealed record RestorePlan
{
    public required string Target { get; init; }
    /// <summary>The point asked for, in UTC. Transactions whose commit event is before it are restored, none at or after.</summary>
    public required DateTime PointInTime { get; init; }
    /// <summary>The second binlog replay stops at: <see cref="PointInTime"/> truncated to whole seconds (binlog resolution).</summary>
    public required DateTime StopTime { get; init; }
    /// <summary>
    /// Asked for the latest point (-Latest): every whole transaction the repository holds is replayed, up to the binlog
    /// stream's last one; <see cref="PointInTime"/> is the second of the newest event, <see cref="StopTime"/> the next.
    /// </summary>
    public bool Latest { get; init; }
    /// <summary>How many of the binlog files are the stream's, read up to their last whole transaction, not sealed sets.</summary>
    public int StreamedBinlogs { get; init; }
    public required BackupRecord Full { get; init; }
    public required IReadOnlyList<BackupRecord> Incrementals { get; init; }
    public required IReadOnlyList<BackupRecord> Binlogs { get; init; }
    public required string StartBinlogFile { get; init; }
    public required long StartBinlogPosition { get; init; }
    public string? StartGtid { get; init; }
    /// <summary>The binary log timeline replay runs on (a new one begins at each RESET MASTER, failover or -Replace restore).</summary>
    public int Timeline { get; init; } = 1;
    public required DateTime RecoverableFrom { get; init; }
    public required DateTime RecoverableTo { get; init; }
    public long BytesToRead { get; init; }
    /// <summary>Whether every file was re-hashed when the plan was made (Get-DbRestorePlan); a restore otherwise verifies as it reads.</summary>
    public bool ChecksumsVerified { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    public required string Repository { get; init; }
    public string? PolicyPath { get; init; }

    /// <summary>The last backup applied (the full, or the newest incremental).</summary>
    public BackupRecord LastBackup => Incrementals.Count > 0 ? Incrementals[^1] : Full;

    public string Summary =>
        $"full {Full.Id}" + (Incrementals.Count > 0 ? $" + {Incrementals.Count} incremental(s)" : "") +
        $" + {Binlogs.Count} binlog file(s)" + (StreamedBinlogs > 0 ? $" ({StreamedBinlogs} still streaming)" : "") +
        $" from {StartBinlogFile}:{StartBinlogPosition} on timeline {Timeline}";
}

/// <summary>A stretch of time a MariaDB target can be restored to, on one binary log timeline.</summary>
public sealed record RestoreSpan(DateTime From, DateTime To, int Timeline);

/// <summary>How long one step of a restore took.</summary>
public sealed record RestoreStep(string Name, TimeSpan Duration);

/// <summary>A table of the restored database and its row count.</summary>
public sealed record TableRowCount(string Table, long Rows);

/// <summary>What Restore-DbToPointInTime (and Test-DbBackup -Restore) did.</summary>
public sealed record RestoreResult
{
    public required string Target { get; init; }
    public required DateTime PointInTime { get; init; }
    public required string Plan { get; init; }
    public required string Destination { get; init; }
    public IReadOnlyList<RestoreStep> Steps { get; init; } = [];
    public TimeSpan Duration { get; init; }
    public bool Validated { get; init; }
    public string? Validation { get; init; }
    public IReadOnlyList<TableRowCount> Tables { get; init; } = [];
    /// <summary>Where replay stopped: the first event at or after the stop time (or the end of the last file).</summary>
    public string? ReachedBinlogFile { get; init; }
    public long? ReachedBinlogPosition { get; init; }
    /// <summary>The last GTID replayed; a replica of the restored server continues from here.</summary>
    public string? ReachedGtid { get; init; }
    /// <summary>With -Replace: the target's old data directory, kept so the swap can be undone.</summary>
    public string? PreviousDataDirectory { get; init; }
    /// <summary>Snapshot engines (Redis, Elasticsearch): the snapshot's end; its state is from no later than this, at or before PointInTime.</summary>
    public DateTime? RestoredTo { get; init; }
}

/// <summary>How thoroughly a restored database is checked.</summary>
public enum RestoreValidation
{
    /// <summary>CHECK TABLE on every table (every index cross-checked), plus row counts.</summary>
    CheckTable,
    /// <summary>Row counts only: COUNT(*) reads every page of one index through InnoDB, which verifies each page's checksum.</summary>
    RowCount,
}
