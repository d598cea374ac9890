using BackupTools.Engine.Repository;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

internal sealed partial class ElasticsearchEngine
{
    // Which indices the snapshot holds and which of them are open in the cluster: asked of the cluster.
    public bool NeedsSecretToPlan(RestoreOptions options) => true;

    public Task<RestorePlan?> PlanAsync(RestoreOptions options, bool verifyChecksums, IProgress<TransferProgress>? progress, CancellationToken ct) =>
        Task.FromResult<RestorePlan?>(null);

    public void CheckRestoreOptions(RestoreOptions o)
    {
        if (o.Plan is not null || o.Destination is not null)
            throw new ArgumentException($"Target '{o.Target.Name}' is an Elasticsearch target: it restores into its cluster. Give -Target and -PointInTime, and -Index, -RenamePattern/-RenameReplacement or -Replace; not -Plan or -Destination.");
        if ((o.RenamePattern is null) != (o.RenameReplacement is null))
            throw new ArgumentException("-RenamePattern and -RenameReplacement go together, e.g. -RenamePattern '(.+)' -RenameReplacement 'restored-$1'.");
    }

    public async Task<PreparedRestore> PrepareRestoreAsync(RestoreOptions o, string? secret, CancellationToken ct)
    {
        var target = o.Target;
        CheckRestoreOptions(o);
        var request = new EsRestoreRequest
        {
            RepositoryRoot = o.RepositoryRoot, Target = target, PointInTime = o.PointInTime, Index = o.Index,
            RenamePattern = o.RenamePattern, RenameReplacement = o.RenameReplacement, Replace = o.Replace, Password = secret,
        };
        var plan = await EsSnapshotRestore.PlanAsync(request, ct);
        var what = $"Restore {string.Join(", ", plan.Indices.Select(p => p.Source == p.Target ? p.Source : $"{p.Source} as {p.Target}"))} from {EsSnapshotRestore.Describe(plan.Snapshot, o.PointInTime)}";
        return new PreparedRestore
        {
            What = what,
            Where = target.Url!,
            Steps = plan.OpenConflicts.Select(index => o.Replace ? $"Close the open index {index} so the restore replaces it"
                : $"Refuse: the open index {index} would be overwritten (give -Replace or a rename)").ToList(),
            ReplaceQuestion = o.Replace && plan.OpenConflicts.Count > 0
                ? $"Close the open indices {string.Join(", ", plan.OpenConflicts)} and restore the snapshot over them? Their current data is lost." : null,
            RunAsync = async (_, callbacks, token) =>
            {
                callbacks.Step?.Invoke(what, "Restoring (waits for the cluster to finish)");
                var result = await EsSnapshotRestore.RunAsync(request with { Log = callbacks.Log }, token);
                callbacks.Step?.Invoke(what, null);
                return result;
            },
        };
    }
}
