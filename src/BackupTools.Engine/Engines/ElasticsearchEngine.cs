using BackupTools.Engine.Core;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>Elasticsearch: snapshots in the cluster's own snapshot repository, recorded as sets of their metadata.</summary>
internal sealed partial class ElasticsearchEngine : ITargetEngine
{
    public string Name => EsSnapshotBackup.Engine;
    public TargetEngine Kind => TargetEngine.Elasticsearch;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Snapshot];
    public string? LockScope(BackupType type) => null;
    public BackupRecord Describe(BackupRecord record, BackupManifest manifest) => record;

    public void ValidatePolicy(TargetKeys keys, Action<string?, string> problem)
    {
        if (keys.Url is null && !keys.Present.Contains("url")) problem("url", "is required for elasticsearch targets, e.g. http://127.0.0.1:9200");
        if (keys.SnapshotRepository is null && !keys.Present.Contains("snapshotRepository"))
            problem("snapshotRepository", "is required for elasticsearch targets: the name of the snapshot repository registered in the cluster");
        EngineDefaults.Foreign(keys, problem, new[] { "socket", "dataDir", "configFile", "host", "port", "startCommand", "toolsDir", "stream" }
            .Select(k => (k, "is not used by elasticsearch targets; give 'url' instead")));
    }

    public string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options) =>
        !Types.Contains(type) ? $"Target '{target.Name}' ({target.Engine}) takes snapshots only: -Type Snapshot, the default."
        : options.Method is not null ? $"-Method is for Redis targets; '{target.Name}' is a {target.Engine} target."
        : null;

    public async Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct) =>
        [await EsSnapshotBackup.RunAsync(request, ct)];

    // The backup's own connection: basic authentication with a user, an API key without one.
    public async Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct)
    {
        var connection = EsConnection.Create(target, secret, timeout);
        var body = EsConnection.Expect(await connection.GetAsync("/", ct), $"the cluster at {target.Url}");
        return body?["version"]?["number"]?.GetValue<string>() ?? throw new InvalidDataException($"{target.Url} answered without a version number.");
    }

    public IReadOnlyList<string> RestoreSteps(bool replace) => EsSnapshotRestore.StepNames;

    public bool RemovesFromServer => true;

    // Its snapshots are deleted in the cluster, one at a time, before their sets go.
    public Func<CatalogEntry, CancellationToken, Task>? ServerRemoval(TargetPolicy target, string? secret, Action<string>? log) =>
        async (entry, ct) =>
        {
            try { await EsSnapshotDelete.DeleteAsync(target, secret, entry, log, ct); }
            catch (EsRequestException e) { throw new ServerRemovalException(e.Message, e); }
        };

    public string RetentionSummary(Retention.RetentionOutcome outcome) => $"{outcome.Kept.Count} snapshot(s) kept";

    public bool CanPrepare(BackupManifest manifest) => false;

    public Task PrepareAsync(string repositoryRoot, CatalogEntry entry, TargetPolicy? target, EngineCallbacks callbacks, CancellationToken ct) =>
        Task.CompletedTask; // the snapshot's data lives in the cluster's repository; its status was checked when it was taken

    public Task<RestoreResult?> TestRestoreAsync(string repositoryRoot, string target, TargetPolicy? policyTarget, DateTime? pointInTime,
        EngineCallbacks callbacks, CancellationToken ct) => Task.FromResult<RestoreResult?>(null);

    public bool CanTestRestore => false;

    public Task ReadinessAsync(TargetPolicy target, string? secret, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct) =>
        Targets.ReadinessCheck.ElasticsearchAsync(target, secret, timeout, add, ct);

    public IReadOnlyList<Retention.RetentionItem> RetentionItems(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries) =>
        EngineDefaults.Items(entries);

    public (DateTime From, DateTime To)? RecoverableWindow(string repositoryRoot, string target, IReadOnlySet<string>? without) => null;

    public EngineStatus Status(string repositoryRoot, TargetPolicy target, IReadOnlyList<CatalogEntry> entries) => EngineStatus.None;
}
