using BackupTools.Engine.Repository;
using BackupTools.Engine.MariaDb;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

internal sealed partial class MariaDbEngine
{
    public bool CanPlan => true;

    // The planner's choice from the manifests: the chain and the binary logs up to the point. Outside the window: null
    // (everything is brought, and the restore itself then says why the point cannot be reached).
    public IReadOnlySet<string>? SetsNeeded(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries, DateTime pointInTime)
    {
        try
        {
            var planned = RestorePlanner.Plan(repositoryRoot, target, pointInTime, checkPresent: false);
            return planned.Chain.Concat(planned.Binlogs).Select(e => e.Manifest.Id).ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception e) when (e is RestoreWindowException or RestoreChainException) { return null; }
    }

    public bool NeedsSecretToPlan(RestoreOptions options) => false;

    public async Task<RestorePlan?> PlanAsync(RestoreOptions options, bool verifyChecksums, IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        var planned = RestorePlanner.Plan(options.RepositoryRoot, options.Target.Name, options.PointInTime, options.PolicyPath, latest: options.Latest);
        if (!verifyChecksums) return planned.Plan;
        await RestorePlanner.VerifyChecksumsAsync(planned, progress, ct);
        return planned.Plan with { ChecksumsVerified = true };
    }

    public void CheckRestoreOptions(RestoreOptions o)
    {
        if (o.Index.Count > 0 || o.RenamePattern is not null || o.RenameReplacement is not null)
            throw new ArgumentException($"-Index, -RenamePattern and -RenameReplacement are for Elasticsearch targets; '{o.Target.Name}' is a MariaDB target.");
        if (o.Destination is null)
            throw new ArgumentException($"-Destination is required for MariaDB target '{o.Target.Name}': a new or empty directory for the restored data directory.");
    }

    public Task<PreparedRestore> PrepareRestoreAsync(RestoreOptions o, string? secret, CancellationToken ct)
    {
        var target = o.Target;
        CheckRestoreOptions(o);
        var destination = o.Destination!;
        if (o.Replace && target.DataDir is null)
            throw new RestoreReplaceException($"Target '{target.Name}' has no dataDir in the policy, so -Replace does not know which directory to replace.");
        PlannedRestore planned;
        if (o.Plan is { } given)
        {
            planned = RestorePlanner.Plan(o.RepositoryRoot, target.Name, given.PointInTime, o.PolicyPath, latest: given.Latest);
            // A plan for the latest point restores to the latest point when it runs: its files may have grown by newer
            // ones (the stream's file sealed into a set, a new one begun), never lost any.
            var binlogs = planned.Plan.Binlogs.Select(b => b.Id).ToList();
            var sameBinlogs = given.Latest
                ? given.Binlogs.Where(b => !b.Id.StartsWith(StreamedBinlogs.IdPrefix, StringComparison.Ordinal)).All(b => binlogs.Contains(b.Id))
                : binlogs.SequenceEqual(given.Binlogs.Select(b => b.Id));
            if (planned.Plan.Full.Id != given.Full.Id || !planned.Plan.Incrementals.Select(i => i.Id).SequenceEqual(given.Incrementals.Select(i => i.Id)) || !sameBinlogs)
                throw new RestoreChainException("The repository changed since this plan was made, so it would restore from different backups. Run Get-DbRestorePlan again.");
        }
        else planned = RestorePlanner.Plan(o.RepositoryRoot, target.Name, o.PointInTime, o.PolicyPath, latest: o.Latest);
        var plan = planned.Plan;
        return Task.FromResult(new PreparedRestore
        {
            What = $"Restore {target.Name} to {plan.PointInTime:u} ({plan.Summary})",
            Where = destination,
            Steps = PointInTimeRestore.Describe(plan, destination, o.Replace ? target.DataDir : null),
            Warnings = plan.Warnings,
            ReplaceConfirmation = o.Replace ? (target.DataDir!, "Replace the data directory with the restored one (the old one is kept)") : null,
            ReplaceQuestion = o.Replace ? $"Replace the data directory '{target.DataDir}' of {target.Name} with the restore to {plan.PointInTime:u}? The old directory is kept beside it." : null,
            NeedsSecret = o.Replace, // to check that the server is stopped
            RunAsync = async (password, callbacks, token) =>
            {
                var activity = $"Restore {target.Name} to {plan.PointInTime:u}";
                var result = await PointInTimeRestore.RunAsync(new RestoreRequest
                {
                    Planned = planned, Destination = destination, Target = target, Password = password, Replace = o.Replace, StateRoot = o.StateRepositoryRoot,
                    Validation = o.Validation, ValidationQuery = o.ValidationQuery, Log = callbacks.Log,
                    Progress = callbacks.Progress?.Invoke(activity, 2), StepStarted = name => callbacks.Step?.Invoke(activity, name),
                }, token);
                callbacks.Step?.Invoke(activity, null);
                return result;
            },
        });
    }
}
