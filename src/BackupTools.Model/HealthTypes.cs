namespace BackupTools.Model;

/// <summary>How a target's backup type stands: Ok, Delayed (no success since it was due), Failed (newest attempt failed), Never.</summary>
public enum BackupState { Ok, Delayed, Failed, Never }

/// <summary>How loud an alert is: Critical → phone, SMS, Slack @channel; Warning → Slack @here, e-mail.</summary>
public enum AlertSeverity { None, Warning, Critical }

/// <summary>The state of one target and backup type, as Get-BackupStatus reports it. Times are UTC.</summary>
public sealed record BackupStatus
{
    public required string Target { get; init; }
    public required string Engine { get; init; }
    public required string Type { get; init; }
    public required BackupState State { get; init; }
    public required AlertSeverity Severity { get; init; }
    public DateTime? LastSuccess { get; init; }
    public DateTime? LastAttempt { get; init; }
    public string? LastError { get; init; }
    public TimeSpan? LastDuration { get; init; }
    public long? LastSize { get; init; }
    /// <summary>The next time the policy's schedule wants this backup.</summary>
    public DateTime? NextDue { get; init; }
    public int RetainedCount { get; init; }
    public long RetainedBytes { get; init; }
    public DateTime? OldestRetained { get; init; }
    /// <summary>MariaDB: the point-in-time window the catalog can serve now.</summary>
    public DateTime? RecoverableFrom { get; init; }
    public DateTime? RecoverableTo { get; init; }
    /// <summary>MariaDB: the binary log timeline the server writes now (a new one begins at RESET MASTER, a failover or a -Replace restore).</summary>
    public int? Timeline { get; init; }
    /// <summary>Set when the last size or duration is far off the usual (a backup ten times smaller often backed up nothing).</summary>
    public string? Anomaly { get; init; }
    /// <summary>One line for a person: what is wrong and since when.</summary>
    public string? Message { get; init; }
    public DateTime AsOf { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>Room left on the file system that holds the repository, and how fast it is filling.</summary>
public sealed record StorageStatus
{
    public required string Path { get; init; }
    public long TotalBytes { get; init; }
    public long UsedBytes { get; init; }
    public long FreeBytes { get; init; }
    public double FreePercent { get; init; }
    /// <summary>Least-squares slope of the repository's size over the last 14 days.</summary>
    public double GrowthBytesPerDay { get; init; }
    /// <summary>Free bytes divided by the growth; null when the repository is not growing.</summary>
    public double? DaysUntilFull { get; init; }
    public long RepositoryBytes { get; init; }
    public required AlertSeverity Severity { get; init; }
    public string? Message { get; init; }
    public DateTime AsOf { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>How ready a target is for what its first scheduled run needs.</summary>
public enum ReadinessLevel { Ok, Warning, Error }

/// <summary>One check of Test-BackupTarget -Readiness: what was checked, what was found, and the fix (the SQL or config line).</summary>
public sealed record ReadinessFinding
{
    public required string Target { get; init; }
    public required string Check { get; init; }
    public required ReadinessLevel Level { get; init; }
    public required string Detail { get; init; }
    public string? Fix { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>
/// A binary-log stream (Start-BinlogStream), as Get-BackupStatus reports it: Running, Behind (lag past the limit) or
/// Dead (its state was not refreshed for a minute, and it was not stopped by the user). Times are UTC.
/// </summary>
public sealed record StreamStatus
{
    public required string Target { get; init; }
    public required string State { get; init; }
    public required AlertSeverity Severity { get; init; }
    /// <summary>How long since the streamed file last held everything the server had written.</summary>
    public TimeSpan Lag { get; init; }
    public long BytesBehind { get; init; }
    public string? File { get; init; }
    public DateTime? Updated { get; init; }
    public string? Message { get; init; }
    public DateTime AsOf { get; init; }
    public string? PolicyPath { get; init; }
}
