using BackupTools.Engine.Core;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>Elasticsearch: snapshots in the cluster's own snapshot repository, recorded as sets of their metadata.</summary>
internal sealed class ElasticsearchEngine : ITargetEngine
{
    public string Name => EsSnapshotBackup.Engine;
    public TargetEngine Kind => TargetEngine.Elasticsearch;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Snapshot];
    public string? LockScope(BackupType type) => null;
    public BackupRecord Describe(BackupRecord record, BackupManifest manifest) => record;

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
}
