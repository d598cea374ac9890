using BackupTools.Engine.Core;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>Redis and Valkey: RDB snapshots over the replication protocol or by BGSAVE; restores into a directory or in place.</summary>
internal sealed partial class RedisEngine : ITargetEngine
{
    public string Name => RedisBackup.Engine;
    public TargetEngine Kind => TargetEngine.Redis;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Snapshot];
    public string? LockScope(BackupType type) => null;

    public BackupRecord Describe(BackupRecord record, BackupManifest manifest)
    {
        var checkedDepth = RedisFields.ReadChecked(manifest.EngineFields);
        return record with
        {
            Checked = checkedDepth,
            Keyspace = checkedDepth == CheckDepth.Full ? RedisFields.ReadKeyspace(manifest.EngineFields) : null,
            Warning = manifest.EngineFields.GetValueOrDefault(RedisFields.CheckWarning),
        };
    }

    public void ValidatePolicy(TargetKeys keys, Action<string?, string> problem)
    {
        if (keys.Socket is null && (keys.Host is null || keys.Port is null))
            problem(null, "needs 'socket' (the server's unixsocket), or both 'host' and 'port', to reach the server");
        EngineDefaults.Foreign(keys, problem, EngineDefaults.ElasticsearchKeys.Select(k => (k, $"is for elasticsearch targets, not {Name}"))
            .Append(("toolsDir", "is for mariadb targets (where that release's mariabackup and mariadbd are)"))
            .Append(("configFile", "is for mariadb targets (the server's option file mariabackup includes)"))
            .Append(("stream", "is for mariadb targets (Start-BinlogStream streams their binary logs)")));
    }

    public string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options) =>
        !Types.Contains(type) ? $"Target '{target.Name}' ({target.Engine}) takes snapshots only: -Type Snapshot, the default."
        : options.Method is not null && !Enum.TryParse<RedisBackupMethod>(options.Method, ignoreCase: true, out _) ? $"-Method is Replication or Bgsave, not '{options.Method}'."
        : null;

    public async Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct) =>
        [await RedisBackup.RunAsync(request, Enum.Parse<RedisBackupMethod>(options.Method ?? nameof(RedisBackupMethod.Replication), ignoreCase: true), ct)];

    // The backup's own client (our RESP connection): the same AUTH <user> <password> an ACL user needs.
    public async Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct)
    {
        await using var connection = await RespConnection.OpenAsync(target, secret, timeout, ct);
        var server = await connection.InfoAsync("server", ct);
        return server.GetValueOrDefault("valkey_version") is { } valkey ? $"Valkey {valkey}"
            : server.GetValueOrDefault("redis_version") ?? throw new InvalidDataException($"{target.Endpoint} answered INFO without a version.");
    }

    public bool RemovesFromServer => false;
    public Func<CatalogEntry, CancellationToken, Task>? ServerRemoval(TargetPolicy target, string? secret, Action<string>? log) => null;
    public string RetentionSummary(Retention.RetentionOutcome outcome) => $"{outcome.Kept.Count} snapshot(s) kept";

    public bool CanPrepare(BackupManifest manifest) => false;

    public Task PrepareAsync(string repositoryRoot, CatalogEntry entry, TargetPolicy? target, EngineCallbacks callbacks, CancellationToken ct) =>
        Task.CompletedTask; // the dump was walked (CRC-64, every key) when it was taken and is again by every restore

    /// <summary>The snapshot at or before the point (the newest without one) written out in scratch, hash- and CRC-checked, key counts compared.</summary>
    public async Task<RestoreResult?> TestRestoreAsync(string repositoryRoot, string target, TargetPolicy? policyTarget, DateTime? pointInTime,
        EngineCallbacks callbacks, CancellationToken ct)
    {
        using var scratch = ScratchDirectory.Create(repositoryRoot, "test-restore-" + target);
        return await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = repositoryRoot, Target = new TargetPolicy { Name = target, Engine = TargetEngine.Redis },
            PointInTime = pointInTime ?? DateTime.UtcNow, Destination = Path.Combine(scratch.Path, "data"), Log = callbacks.Log, Warn = callbacks.Warn,
        }, ct);
    }

    public IReadOnlyList<string> RestoreSteps(bool replace) => replace ? RedisRestore.StepNames : RedisRestore.StepNames[..2];

    public bool CanTestRestore => true;

    public Task ReadinessAsync(TargetPolicy target, string? secret, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct) =>
        Targets.ReadinessCheck.RedisAsync(target, secret, repositoryRoot, timeout, add, ct);

    public IReadOnlyList<Retention.RetentionItem> RetentionItems(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries) =>
        EngineDefaults.Items(entries);

    public (DateTime From, DateTime To)? RecoverableWindow(string repositoryRoot, string target, IReadOnlySet<string>? without) => null;

    /// <summary>
    /// The newest snapshot kept on its checksum only (a dump newer than this version walks) is a Warning: it is a
    /// backup, but its keys were not counted, and the restore will not compare them either, until BackupTools is updated.
    /// </summary>
    public EngineStatus Status(string repositoryRoot, TargetPolicy target, IReadOnlyList<CatalogEntry> entries)
    {
        var newest = entries.Where(e => e.Manifest.Engine == Name && e.Manifest.Target == target.Name).MaxBy(e => e.Manifest.EndTime);
        if (newest is null || RedisFields.ReadChecked(newest.Manifest.EngineFields) == CheckDepth.Full) return EngineStatus.None;
        var why = newest.Manifest.EngineFields.GetValueOrDefault(RedisFields.CheckWarning) ?? "its format is newer than this version of BackupTools walks";
        var message = $"{target.Name}: the newest snapshot {newest.Manifest.Id} was kept on its checksum only ({why}): its keys were not counted. " +
                      "Update BackupTools to a version that knows the server's dump format.";
        return new EngineStatus(null, s => s.Severity == AlertSeverity.None ? s with { Severity = AlertSeverity.Warning, Message = message } : s, []);
    }
}
