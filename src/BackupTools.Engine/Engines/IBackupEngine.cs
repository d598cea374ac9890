using BackupTools.Engine.Core;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>
/// One kind of thing BackupTools backs up, as the rest of the module needs to know it: where its sets live, which
/// types it takes, which of them run under a lock of their own, and how a record describes its sets. Everything that
/// differs between engines is answered here, so callers ask instead of switching on the engine.
/// </summary>
public interface IBackupEngine
{
    /// <summary>The repository directory of its sets, and the Engine of its records and journal lines.</summary>
    string Name { get; }

    /// <summary>The types it takes; the first is the default.</summary>
    IReadOnlyList<BackupType> Types { get; }

    /// <summary>A lock of its own beside the target's main lock for this type (MariaDB binlog archiving), or null.</summary>
    string? LockScope(BackupType type);

    /// <summary>Adds what only this engine knows to a record built from a manifest (Redis: how far the dump was checked).</summary>
    BackupRecord Describe(BackupRecord record, BackupManifest manifest);
}

/// <summary>A target's keys as the policy file gives them, for an engine's own checks.</summary>
public sealed record TargetKeys(IReadOnlySet<string> Present, string? Host, int? Port, string? Socket, string? Url, string? SnapshotRepository);

/// <summary>Options of one backup that only some engines take.</summary>
public sealed record BackupOptions
{
    /// <summary>Redis: Replication or Bgsave.</summary>
    public string? Method { get; init; }
}

/// <summary>An engine of servers named as targets in the policy (MariaDB, Redis, Elasticsearch).</summary>
public interface ITargetEngine : IBackupEngine
{
    TargetEngine Kind { get; }

    /// <summary>
    /// Checks the policy keys of one of its targets: which are required and which belong to other engines. Each problem
    /// goes to problem(key, message): key null means the target itself, a key in keys.Present means that key's place,
    /// any other key (a missing required one) is reported at the target under that key's name.
    /// </summary>
    void ValidatePolicy(TargetKeys keys, Action<string?, string> problem);

    /// <summary>Why this type or these options do not fit the target (a message naming the fix), or null.</summary>
    string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options);

    /// <summary>Takes one backup of the type; binlog archiving may publish several sets (one per closed file).</summary>
    Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct);

    /// <summary>Whether the engine streams its log continuously (MariaDB binary logs), so Start-BinlogStream can run for it.</summary>
    bool CanStream => false;

    /// <summary>Streams until <paramref name="ct"/> is cancelled, telling each set it seals as it is published.</summary>
    Task StreamAsync(BackupRequest request, Action<BackupAttempt> sealedSet, CancellationToken ct) =>
        throw new NotSupportedException($"Target '{request.Target.Name}' ({request.Target.Engine}) has no log to stream; only MariaDB targets do.");

    /// <summary>Logs in as the backup would (same client, same authentication) and returns the server's version.</summary>
    Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct);

    /// <summary>The steps of a restore, in order: the one list -WhatIf shows and progress counts.</summary>
    IReadOnlyList<string> RestoreSteps(bool replace);

    /// <summary>Whether Test-DbBackup -Restore can try its restores in scratch (so the schedule gets a weekly test-restore job).</summary>
    bool CanTestRestore { get; }

    /// <summary>The readiness checks of its servers (Test-BackupTarget -Readiness), each reported through add(check, level, detail, fix).</summary>
    Task ReadinessAsync(TargetPolicy target, string? secret, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct);

    /// <summary>What retention plans over: its sets as items (MariaDB: with the binlog timeline each is on).</summary>
    IReadOnlyList<Retention.RetentionItem> RetentionItems(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries);

    /// <summary>The span a point-in-time restore can reach (MariaDB), less the sets named in without; null when none or not this kind of engine.</summary>
    (DateTime From, DateTime To)? RecoverableWindow(string repositoryRoot, string target, IReadOnlySet<string>? without);

    /// <summary>What its status shows beyond the sets (MariaDB: the restore window and the binlog timeline), from the entries already read.</summary>
    EngineStatus Status(string repositoryRoot, TargetPolicy target, IReadOnlyList<CatalogEntry> entries);

    /// <summary>Refuses options this engine does not take (an <see cref="ArgumentException"/> saying what to give instead), before any secret is read.</summary>
    void CheckRestoreOptions(RestoreOptions options);

    /// <summary>Whether preparing a restore with these options already asks the server (Elasticsearch), so needs the secret.</summary>
    bool NeedsSecretToPlan(RestoreOptions options);

    /// <summary>
    /// Checks a restore request (a combination of options this engine does not take is an <see cref="ArgumentException"/>
    /// saying what to give instead), plans it and describes it; nothing is touched.
    /// </summary>
    Task<PreparedRestore> PrepareRestoreAsync(RestoreOptions options, string? secret, CancellationToken ct);

    /// <summary>
    /// Get-DbRestorePlan: the backups a restore to the point would use, every checksum verified unless skipped; null for
    /// engines whose restores are snapshot restores with no plan to make.
    /// </summary>
    Task<RestorePlan?> PlanAsync(RestoreOptions options, bool verifyChecksums, IProgress<TransferProgress>? progress, CancellationToken ct);

    /// <summary>
    /// The sets a restore to <paramref name="pointInTime"/> reads, decided from the manifests alone (the files may not be
    /// there yet: an offsite fetch brings only these); null when it cannot tell, and then every set is brought.
    /// </summary>
    IReadOnlySet<string>? SetsNeeded(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries, DateTime pointInTime) =>
        entries.Where(e => e.Manifest.EndTime <= pointInTime).MaxBy(e => e.Manifest.EndTime) is { } newest
            ? new HashSet<string>([newest.Manifest.Id], StringComparer.Ordinal) : null;

    /// <summary>Whether <see cref="PlanAsync"/> makes a plan (point-in-time engines), so a caller knows before fetching anything.</summary>
    bool CanPlan => false;

    /// <summary>Whether retention must also remove a set's data on the server (Elasticsearch snapshots), which needs the target's secret.</summary>
    bool RemovesFromServer { get; }

    /// <summary>
    /// Removes a set's data on the server before its set goes (null when there is none); a refusal is a
    /// <see cref="ServerRemovalException"/> and the set stays.
    /// </summary>
    Func<CatalogEntry, CancellationToken, Task>? ServerRemoval(TargetPolicy target, string? secret, Action<string>? log);

    /// <summary>The end of retention's summary line: what is still restorable (MariaDB: the window before and after).</summary>
    string RetentionSummary(Retention.RetentionOutcome outcome);

    /// <summary>Whether this set has a deeper check than its hashes (Test-DbBackup -Prepare; MariaDB full and incremental).</summary>
    bool CanPrepare(BackupManifest manifest);

    /// <summary>That deeper check, in scratch (MariaDB: extract the chain and mariabackup --prepare); throws when it fails.</summary>
    Task PrepareAsync(string repositoryRoot, CatalogEntry entry, TargetPolicy? target, EngineCallbacks callbacks, CancellationToken ct);

    /// <summary>
    /// Test-DbBackup -Restore: a whole restore of the target into scratch at the point (or a random moment a backup
    /// serves), validated, then removed; null when this engine's restores cannot be tried in scratch (Elasticsearch
    /// restores into its cluster).
    /// </summary>
    Task<RestoreResult?> TestRestoreAsync(string repositoryRoot, string target, TargetPolicy? policyTarget, DateTime? pointInTime,
        EngineCallbacks callbacks, CancellationToken ct);
}

/// <summary>An engine's part of a target's status: its restore window, a change to each type's status, problems reading them.</summary>
public sealed record EngineStatus((DateTime From, DateTime To)? Window, Func<BackupStatus, BackupStatus>? Adjust, IReadOnlyList<string> Problems)
{
    public static readonly EngineStatus None = new(null, null, []);
}

/// <summary>What the server refused while retention removed a set there (an Elasticsearch snapshot delete); the set stays.</summary>
public sealed class ServerRemovalException(string message, Exception inner) : Exception(message, inner);

/// <summary>How an engine talks back to its caller (a cmdlet's verbose stream, warnings, progress bars).</summary>
public sealed record EngineCallbacks
{
    public Action<string>? Log { get; init; }
    public Action<string>? Warn { get; init; }
    /// <summary>A byte progress for an activity (activity name, progress id).</summary>
    public Func<string, int, IProgress<TransferProgress>?>? Progress { get; init; }
    /// <summary>A step of an activity started (activity, step name); null step: the activity ended.</summary>
    public Action<string, string?>? Step { get; init; }
    public Random Random { get; init; } = Random.Shared;
}
