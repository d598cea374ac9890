namespace BackupTools.Model;

public enum ModelBackupOutcome { Succeeded, Unchanged, Failed }

/// <summary>One version of an AI model in the repository, as Backup-AiModel and Get-AiModelBackup report it.</summary>
public sealed record ModelBackupRecord
{
    public required string Name { get; init; }
    public required string Version { get; init; }
    public required ModelBackupOutcome Status { get; init; }
    /// <summary>Where the version name came from: given, config.json, VERSION, or content.</summary>
    public string? VersionSource { get; init; }
    public DateTime? Created { get; init; }
    public int Files { get; init; }
    public long RawBytes { get; init; }
    /// <summary>Bytes this version added to the repository (contents no earlier version had).</summary>
    public long NewBytes { get; init; }
    public TimeSpan Duration { get; init; }
    public string? ManifestHash { get; init; }
    public string? SourcePath { get; init; }
    public string? Error { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>What Restore-AiModel did.</summary>
public sealed record ModelRestoreResult
{
    public required string Name { get; init; }
    public required string Version { get; init; }
    public required string Destination { get; init; }
    public bool Validated { get; init; }
    public IReadOnlyList<string> Steps { get; init; } = [];
    public TimeSpan Duration { get; init; }
}
