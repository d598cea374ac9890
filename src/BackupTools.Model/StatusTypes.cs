namespace BackupTools.Model;

/// <summary>Result of checking that a policy target answers and that we can log in.</summary>
public sealed record TargetCheck
{
    public required string Target { get; init; }
    public required TargetEngine Engine { get; init; }
    public required string Endpoint { get; init; }
    public required bool Reachable { get; init; }
    public string? ServerVersion { get; init; }
    public TimeSpan Latency { get; init; }
    public string? Error { get; init; }
}

/// <summary>What a backup repository holds, as seen when it is opened or created.</summary>
public sealed record RepositoryInfo
{
    public required string Path { get; init; }
    public required int BackupSets { get; init; }
    public required int JournalEntries { get; init; }
    public required int PartialSets { get; init; }
    public required string ConfigRepository { get; init; }
    public string? ConfigHead { get; init; }
    public long TotalBytes { get; init; }
    public long FreeBytes { get; init; }
    public double FreePercent => TotalBytes == 0 ? 0 : Math.Round(100.0 * FreeBytes / TotalBytes, 1);
}
