namespace BackupTools.Model;

/// <summary>What a part of the platform is: a target (a server's data), a model, or a config path.</summary>
public enum PlatformPartKind { Target, Model, Config }

/// <summary>
/// One part of a platform restore as planned: what it reads, where it lands and how far that is from the point asked
/// for. A part with a <see cref="Problem"/> cannot be restored to that point, and the platform restore refuses to start.
/// </summary>
public sealed record PlatformPartPlan
{
    /// <summary>The target or model name, or the config path.</summary>
    public required string Part { get; init; }
    public required PlatformPartKind Kind { get; init; }
    /// <summary>mariadb, redis, elasticsearch, models or config.</summary>
    public required string Engine { get; init; }
    /// <summary>The moment the part's restored data is from (MariaDB: the point itself; a snapshot: its end; a model: the point, when its deployment is recorded).</summary>
    public DateTime? LandsAt { get; init; }
    /// <summary><see cref="LandsAt"/> minus the point asked for: zero or negative (a snapshot taken before it).</summary>
    public TimeSpan? Offset { get; init; }
    /// <summary>What the restore reads (the backup chain, the snapshot, the version, the commit).</summary>
    public string? Reads { get; init; }
    /// <summary>How many bytes it reads from the repository (what a restore's time grows with).</summary>
    public long Bytes { get; init; }
    /// <summary>Where it lands: a new location under the restore's destination, or the live one with -Replace.</summary>
    public string? Destination { get; init; }
    public bool Replace { get; init; }
    /// <summary>Parts in one group share a server and run one after another; groups run in parallel.</summary>
    public required string Group { get; init; }
    /// <summary>Why this part cannot be restored to the point; null when it can.</summary>
    public string? Problem { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>Get-PlatformRestorePlan: every part of the platform at one point in time, checked before anything is touched.</summary>
public sealed record PlatformRestorePlan
{
    /// <summary>The point asked for, UTC.</summary>
    public required DateTime AsOf { get; init; }
    public required IReadOnlyList<PlatformPartPlan> Parts { get; init; }
    /// <summary>Where the parts not replaced land (one directory per part under it).</summary>
    public string? Destination { get; init; }
    /// <summary>Whether every part can be restored to the point.</summary>
    public bool Restorable => Parts.Count > 0 && Parts.All(p => p.Problem is null);
    /// <summary>The farthest any part lands from the point (the most negative offset).</summary>
    public TimeSpan? WorstOffset => Parts.Where(p => p.Offset is not null).Select(p => p.Offset!.Value).DefaultIfEmpty().Min();
    public string? PolicyPath { get; init; }
}

/// <summary>What one part of a platform restore did.</summary>
public sealed record PlatformPartResult
{
    public required string Part { get; init; }
    public required PlatformPartKind Kind { get; init; }
    public required string Engine { get; init; }
    public required bool Succeeded { get; init; }
    /// <summary>False when the part was not run (an earlier part that replaces live data failed, or the restore could not start).</summary>
    public bool Ran { get; init; } = true;
    public DateTime? LandsAt { get; init; }
    public TimeSpan? Offset { get; init; }
    public string? Destination { get; init; }
    public required DateTime Started { get; init; }
    public required TimeSpan Duration { get; init; }
    /// <summary>Whether the part's own validation passed (MariaDB: the restored tables; a model: every file against its hash; config: written).</summary>
    public bool Validated { get; init; }
    public long Bytes { get; init; }
    public string? Error { get; init; }
    /// <summary>The part's own result (RestoreResult, ModelRestoreResult, or the ConfigRestoreResult of each file).</summary>
    public object? Detail { get; init; }
}

/// <summary>Restore-Platform and Test-Platform: the whole platform at one point, one result with its parts.</summary>
public sealed record PlatformRestoreResult
{
    public required DateTime AsOf { get; init; }
    /// <summary>Every part succeeded and the whole passed its validation.</summary>
    public required bool Succeeded { get; init; }
    public required IReadOnlyList<PlatformPartResult> Parts { get; init; }
    public required DateTime Started { get; init; }
    /// <summary>Wall clock of the whole restore (parts run in parallel where they share no server).</summary>
    public required TimeSpan Duration { get; init; }
    /// <summary>The parts' durations added up: what the restore would take one part after another.</summary>
    public TimeSpan SumOfParts => Parts.Aggregate(TimeSpan.Zero, (sum, p) => sum + p.Duration);
    /// <summary>Whether the whole-platform validation (-ValidationScript) ran and passed; null when none was given.</summary>
    public bool? Validated { get; init; }
    public string? Error { get; init; }
    public string? Destination { get; init; }
    /// <summary>A drill (Test-Platform): restored into scratch and removed again.</summary>
    public bool Drill { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>
/// How a target, a model or the whole platform stands against its recovery objectives, as Get-BackupStatus reports it:
/// the achieved RPO (age of the newest restorable point), the RTO the last drill measured and its projection to the
/// data as it is now, the recoverable window, the oldest full's age, and the last drill's result and age. Times are UTC.
/// </summary>
public sealed record RecoveryStatus
{
    /// <summary>The target or model name, or "platform".</summary>
    public required string Part { get; init; }
    /// <summary>target, model or platform.</summary>
    public required string Kind { get; init; }
    public string? Engine { get; init; }
    /// <summary>Ok, OverRpo, OverRto, Unmeasured (an rto and no drill yet), DrillOld, NeverDrilled (the platform only), DrillFailed, NoRestorePoint.</summary>
    public required string State { get; init; }
    public required AlertSeverity Severity { get; init; }
    public TimeSpan? Rpo { get; init; }
    /// <summary>How old the newest restorable point is now.</summary>
    public TimeSpan? AchievedRpo { get; init; }
    public DateTime? NewestRestorablePoint { get; init; }
    public TimeSpan? Rto { get; init; }
    /// <summary>How long the part (or the whole platform) took in the last drill that restored it.</summary>
    public TimeSpan? LastDrillRto { get; init; }
    /// <summary>The last drill's time scaled by how much the data a restore reads has grown since (bytes now / bytes then).</summary>
    public TimeSpan? ProjectedRto { get; init; }
    public DateTime? RecoverableFrom { get; init; }
    public DateTime? RecoverableTo { get; init; }
    /// <summary>The oldest full backup (a snapshot engine's oldest snapshot, a model's oldest version).</summary>
    public DateTime? OldestFull { get; init; }
    public TimeSpan? OldestFullAge { get; init; }
    public DateTime? LastDrill { get; init; }
    public bool? LastDrillSucceeded { get; init; }
    public TimeSpan? LastDrillAge { get; init; }
    public string? Message { get; init; }
    public DateTime AsOf { get; init; }
    public string? PolicyPath { get; init; }
}
