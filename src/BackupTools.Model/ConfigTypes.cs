namespace BackupTools.Model;

/// <summary>What one Backup-ConfigFile run did.</summary>
public enum ConfigSnapshotStatus
{
    /// <summary>Changes were committed (and pushed, when the policy names a remote).</summary>
    Committed,
    /// <summary>Nothing changed since the last commit: no commit was made.</summary>
    Unchanged,
    /// <summary>The run failed, or the commit was made but the push failed (Commit is set then).</summary>
    Failed,
}

/// <summary>Output of Backup-ConfigFile: the commit (or the current one when Unchanged) and what changed.</summary>
public sealed record ConfigSnapshot
{
    public required ConfigSnapshotStatus Status { get; init; }
    /// <summary>The new commit's id; the HEAD commit when nothing changed.</summary>
    public string? Commit { get; init; }
    public DateTime Time { get; init; }
    public string? Message { get; init; }
    public IReadOnlyList<string> Added { get; init; } = [];
    public IReadOnlyList<string> Modified { get; init; } = [];
    public IReadOnlyList<string> Deleted { get; init; } = [];
    /// <summary>Files kept out because they look like secrets (name or a private key inside).</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];
    /// <summary>The remote pushed to, when the policy names one.</summary>
    public string? Remote { get; init; }
    public bool? Pushed { get; init; }
    public string? Error { get; init; }
    public required string Repository { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>How a commit changed a file.</summary>
public enum ConfigChange { Added, Modified, Deleted }

/// <summary>Output of Get-ConfigFileHistory: one file changed by one commit.</summary>
public sealed record ConfigHistoryEntry
{
    public required string Commit { get; init; }
    public required DateTime Time { get; init; }
    public required string Message { get; init; }
    /// <summary>The file's original absolute path (e.g. /etc/docker/daemon.json).</summary>
    public required string Path { get; init; }
    public required ConfigChange Change { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>Output of Restore-ConfigFile.</summary>
public sealed record ConfigRestoreResult
{
    public required string Path { get; init; }
    public required string Commit { get; init; }
    public required DateTime CommitTime { get; init; }
    /// <summary>Where the file was written (its own path unless -Destination).</summary>
    public required string Destination { get; init; }
    /// <summary>The file as it was before, kept beside it (null when there was none).</summary>
    public string? PreviousCopy { get; init; }
    public string? Mode { get; init; }
    public string? Owner { get; init; }
    /// <summary>False when the process could not set the owner (not root); the content and mode are still restored.</summary>
    public bool OwnerRestored { get; init; }
}

/// <summary>Where scheduled jobs are registered.</summary>
public enum ScheduleScope
{
    /// <summary>Linux: /etc/cron.d/backuptools (jobs run as root). Windows: tasks in \BackupTools\ running as the given account.</summary>
    System,
    /// <summary>Linux: the invoking user's crontab.</summary>
    User,
}

/// <summary>One scheduled job of ours: what Register-BackupSchedule created and Get-BackupSchedule lists.</summary>
public sealed record BackupScheduleEntry
{
    public required string Name { get; init; }
    public string? Target { get; init; }
    /// <summary>The policy file the job was registered for (null on lines written by older versions).</summary>
    public string? Policy { get; init; }
    /// <summary>A 5-field cron expression, in the machine's local time (as cron reads it).</summary>
    public required string Schedule { get; init; }
    public required string Command { get; init; }
    /// <summary>The next time it runs, local time.</summary>
    public DateTime? NextRun { get; init; }
    public required ScheduleScope Scope { get; init; }
    /// <summary>The cron file, "crontab", or the task path.</summary>
    public required string Location { get; init; }
}
