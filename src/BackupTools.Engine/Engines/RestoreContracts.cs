using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>What a restore was asked for: every engine reads the parts it takes and refuses the ones it does not.</summary>
public sealed record RestoreOptions
{
    public required string RepositoryRoot { get; init; }
    /// <summary>
    /// The repository a -Replace records itself in (swap intent, replace marker: the new binary-log timeline), when the
    /// sets are read from elsewhere (a scratch repository fetched from offsite). Null: the repository read from.
    /// </summary>
    public string? StateRepositoryRoot { get; init; }
    public required TargetPolicy Target { get; init; }
    public required DateTime PointInTime { get; init; }
    /// <summary>
    /// The latest point the repository holds (MariaDB: through the binlog stream's last whole transaction; snapshot
    /// engines: the newest snapshot, with <see cref="PointInTime"/> now).
    /// </summary>
    public bool Latest { get; init; }
    public string? PolicyPath { get; init; }
    /// <summary>MariaDB: a plan from Get-DbRestorePlan, checked again.</summary>
    public RestorePlan? Plan { get; init; }
    /// <summary>A new or empty directory (MariaDB: the restored data directory; Redis: where dump.rdb goes).</summary>
    public string? Destination { get; init; }
    /// <summary>Into the live server or data directory, keeping the old data beside it.</summary>
    public bool Replace { get; init; }
    public RestoreValidation Validation { get; init; } = RestoreValidation.RowCount;
    public string? ValidationQuery { get; init; }
    /// <summary>Elasticsearch: index names or patterns, and a rename to restore beside the live indices.</summary>
    public IReadOnlyList<string> Index { get; init; } = [];
    public string? RenamePattern { get; init; }
    public string? RenameReplacement { get; init; }
}

/// <summary>
/// A restore, checked and described before anything is touched: what it does (for ShouldProcess), its steps (what
/// -WhatIf lists, the same list progress counts), the questions to ask before it replaces live data, and how to run it.
/// </summary>
public sealed record PreparedRestore
{
    /// <summary>One line: what is restored from what.</summary>
    public required string What { get; init; }
    /// <summary>Where it lands (the ShouldProcess target).</summary>
    public required string Where { get; init; }
    public required IReadOnlyList<string> Steps { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    /// <summary>A second ShouldProcess for the live data it replaces (target, action), or null.</summary>
    public (string Where, string What)? ReplaceConfirmation { get; init; }
    /// <summary>The question asked (unless -Force) before live data is replaced, or null.</summary>
    public string? ReplaceQuestion { get; init; }
    /// <summary>Whether running it needs the target's secret (resolved only once the user said yes).</summary>
    public bool NeedsSecret { get; init; }
    public required Func<string?, EngineCallbacks, CancellationToken, Task<RestoreResult>> RunAsync { get; init; }
}
