using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Core;

/// <summary>Everything one backup run needs; the cmdlet fills it from the policy and its parameters.</summary>
public sealed record BackupRequest
{
    public required string RepositoryRoot { get; init; }
    public required TargetPolicy Target { get; init; }
    /// <summary>Held in memory only; handed to mariabackup through a 0600 option file.</summary>
    public string? Password { get; init; }
    public CompressionOptions Compression { get; init; } = CompressionOptions.Default;
    /// <summary>Extract and prepare the chain in a scratch directory before publishing.</summary>
    public bool Verify { get; init; }
    public string? PolicyPath { get; init; }
    public IProgress<TransferProgress>? Progress { get; init; }
    /// <summary>Verbose log lines (mariabackup's own log among them).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Things the user should know about a backup that succeeded (e.g. a Redis dump checked by checksum only).</summary>
    public Action<string>? Warn { get; init; }
}

/// <summary>The outcome of one attempt: its record, and for a failure the error that explains it.</summary>
public sealed record BackupAttempt(BackupRecord Record, Exception? Error);
