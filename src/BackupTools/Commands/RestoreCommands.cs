using System.Management.Automation;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Engines;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Get-DbRestorePlan: what a restore to a point in time would use, checked whole (every checksum) before anything is touched.</summary>
[Cmdlet(VerbsCommon.Get, "DbRestorePlan", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(RestorePlan))]
public sealed class GetDbRestorePlanCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Target { get; set; } = "";

    /// <summary>The time to restore to; a DateTime without a zone is this machine's local time.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Time")]
    public DateTimeOffset PointInTime { get; set; }

    /// <summary>Check presence and sizes only, not every checksum (the restore still verifies each file as it reads it).</summary>
    [Parameter]
    public SwitchParameter SkipChecksum { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var target = RestoreTargets.Require(policy, Target);
        if (target.Engine != TargetEngine.MariaDb)
            throw new NotSupportedException($"Target '{target.Name}' is a {target.Engine} target: its restores are snapshot restores with no plan to make. See which snapshot would be used with: Restore-DbToPointInTime -Target {target.Name} -PointInTime <time> -Destination <dir> -WhatIf");
        var planned = RestorePlanner.Plan(policy.Repository, target.Name, PointInTime.UtcDateTime, policy.Path);
        if (!SkipChecksum)
        {
            var progress = CreateTransferProgress($"Checking the files of the restore plan for {target.Name}");
            await RestorePlanner.VerifyChecksumsAsync(planned, progress, CancelToken);
            planned = planned with { Plan = planned.Plan with { ChecksumsVerified = true } };
        }
        foreach (var w in planned.Plan.Warnings) WriteWarningAsync(w);
        WriteObjectAsync(planned.Plan);
    }
}

/// <summary>
/// Restore-DbToPointInTime: restores a MariaDB target as it was at a point in time into a new directory, validated on a
/// temporary server; with -Replace swaps it in for the (stopped) server's data directory, keeping the old one.
/// </summary>
[Cmdlet(VerbsData.Restore, "DbToPointInTime", DefaultParameterSetName = TargetSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RestoreResult))]
public sealed class RestoreDbToPointInTimeCommand : PolicyCmdlet
{
    private const string TargetSet = "Target";
    private const string PlanSet = "Plan";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = TargetSet)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Target { get; set; } = "";

    /// <summary>The time to restore to; a DateTime without a zone is this machine's local time.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = TargetSet)]
    [Alias("Time")]
    public DateTimeOffset PointInTime { get; set; }

    /// <summary>A plan from Get-DbRestorePlan.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = PlanSet)]
    public RestorePlan? Plan { get; set; }

    /// <summary>A new or empty directory for the restored data directory (MariaDB: required; Redis: where dump.rdb is written, unless -Replace).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>MariaDB: after validation, swap the restored directory in for the target's dataDir (the server must be stopped). Redis: restore into the running server (SHUTDOWN NOSAVE, files in place, start, check).</summary>
    [Parameter]
    public SwitchParameter Replace { get; set; }

    /// <summary>With -Replace: do not ask again before replacing the data directory.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>SQL run on the restored database; its first column must be true.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ValidationQuery { get; set; }

    /// <summary>
    /// RowCount (the default: COUNT(*) of every table, which reads every page of its clustered index through InnoDB's
    /// page checksum check) or CheckTable (CHECK TABLE on every table, which also cross-checks every secondary index:
    /// measured about twice the time on 1.2 GB).
    /// </summary>
    [Parameter]
    public RestoreValidation Validation { get; set; } = RestoreValidation.RowCount;

    /// <summary>With -Replace: the login used to check that the target's server is stopped.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Elasticsearch: index names or wildcard patterns to restore, a subset of the snapshot's (all when omitted).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Index { get; set; }

    /// <summary>Elasticsearch: a regular expression over restored index names, to restore beside the live ones.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RenamePattern { get; set; }

    /// <summary>Elasticsearch: the replacement for -RenamePattern ($1 for the first group), e.g. 'restored-$1'.</summary>
    [Parameter]
    public string? RenameReplacement { get; set; }

    private string? _destination;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _destination = Destination is null ? null : ResolvePath(this, Destination);
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var targetName = Plan?.Target ?? Target;
        var target = RestoreTargets.Require(policy, targetName);
        if (target.Engine == TargetEngine.Redis)
        {
            await RestoreRedisAsync(policy, target);
            return;
        }
        if (target.Engine == TargetEngine.Elasticsearch)
        {
            await RestoreElasticsearchAsync(policy, target);
            return;
        }
        if (_destination is null)
            throw new ArgumentException($"-Destination is required for MariaDB target '{target.Name}': a new or empty directory for the restored data directory.");
        PlannedRestore planned;
        if (Plan is not null)
        {
            // Re-check: the catalog may have changed since the plan was made.
            planned = RestorePlanner.Plan(policy.Repository, target.Name, Plan.PointInTime, policy.Path);
            if (planned.Plan.Full.Id != Plan.Full.Id || !planned.Plan.Incrementals.Select(i => i.Id).SequenceEqual(Plan.Incrementals.Select(i => i.Id)) ||
                !planned.Plan.Binlogs.Select(b => b.Id).SequenceEqual(Plan.Binlogs.Select(b => b.Id)))
                throw new RestoreChainException("The repository changed since this plan was made, so it would restore from different backups. Run Get-DbRestorePlan again.");
        }
        else planned = RestorePlanner.Plan(policy.Repository, target.Name, PointInTime.UtcDateTime, policy.Path);
        foreach (var w in planned.Plan.Warnings) WriteWarningAsync(w);

        var destination = _destination!;
        var engine = EngineRegistry.For(target);
        var (go, whatIf) = await AskAsync(destination, $"Restore {target.Name} to {planned.Plan.PointInTime:u} ({planned.Plan.Summary})");
        if (whatIf)
        {
            // The engine's own step list, the one progress counts: the two cannot drift apart.
            foreach (var step in PointInTimeRestore.Describe(planned.Plan, destination, Replace ? target.DataDir : null))
                await ShouldProcessAsync(destination, step);
            return;
        }
        if (!go) return;
        if (Replace)
        {
            if (target.DataDir is null)
                throw new RestoreReplaceException($"Target '{target.Name}' has no dataDir in the policy, so -Replace does not know which directory to replace.");
            if (!await ShouldProcessAsync(target.DataDir, "Replace the data directory with the restored one (the old one is kept)")) return;
            if (!Force && !await ShouldContinueAsync($"Replace the data directory '{target.DataDir}' of {target.Name} with the restore to {planned.Plan.PointInTime:u}? The old directory is kept beside it.", "Replace live data"))
                return;
        }
        string? password = null;
        if (Replace) password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
        var activity = $"Restore {target.Name} to {planned.Plan.PointInTime:u}";
        var steps = engine.RestoreSteps(Replace).Count;
        var index = 0;
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = destination, Target = target, Password = password, Replace = Replace,
            Validation = Validation, ValidationQuery = ValidationQuery, Log = WriteVerboseAsync,
            Progress = CreateTransferProgress(activity, 2),
            StepStarted = name => WriteProgressAsync(new ProgressRecord(1, activity, $"Step {++index}: {name}")
                { PercentComplete = Math.Min(100, 100 * index / steps) }),
        }, CancelToken);
        WriteProgressAsync(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
        WriteObjectAsync(result);
    }

    private async Task RestoreElasticsearchAsync(BackupPolicy policy, TargetPolicy target)
    {
        if (Plan is not null || _destination is not null)
            throw new ArgumentException($"Target '{target.Name}' is an Elasticsearch target: it restores into its cluster. Give -Target and -PointInTime, and -Index, -RenamePattern/-RenameReplacement or -Replace; not -Plan or -Destination.");
        if ((RenamePattern is null) != (RenameReplacement is null))
            throw new ArgumentException("-RenamePattern and -RenameReplacement go together, e.g. -RenamePattern '(.+)' -RenameReplacement 'restored-$1'.");
        var password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
        var request = new EsRestoreRequest
        {
            RepositoryRoot = policy.Repository, Target = target, PointInTime = PointInTime.UtcDateTime, Index = Index ?? [],
            RenamePattern = RenamePattern, RenameReplacement = RenameReplacement, Replace = Replace, Password = password, Log = WriteVerboseAsync,
        };
        var plan = await EsSnapshotRestore.PlanAsync(request, CancelToken);
        var what = $"Restore {string.Join(", ", plan.Indices.Select(p => p.Source == p.Target ? p.Source : $"{p.Source} as {p.Target}"))} from {EsSnapshotRestore.Describe(plan.Snapshot, request.PointInTime)}";
        var (go, whatIf) = await AskAsync(target.Url!, what);
        if (whatIf)
        {
            foreach (var index in plan.OpenConflicts)
                await ShouldProcessAsync(target.Url!, Replace ? $"Close the open index {index} so the restore replaces it" : $"Refuse: the open index {index} would be overwritten (give -Replace or a rename)");
            return;
        }
        if (!go) return;
        if (Replace && plan.OpenConflicts.Count > 0 && !Force &&
            !await ShouldContinueAsync($"Close the open indices {string.Join(", ", plan.OpenConflicts)} and restore the snapshot over them? Their current data is lost.", "Replace live indices"))
            return;
        WriteProgressAsync(new ProgressRecord(1, what, "Restoring (waits for the cluster to finish)"));
        var result = await EsSnapshotRestore.RunAsync(request, CancelToken);
        WriteProgressAsync(new ProgressRecord(1, what, "Done") { RecordType = ProgressRecordType.Completed });
        WriteObjectAsync(result);
    }

    private async Task RestoreRedisAsync(BackupPolicy policy, TargetPolicy target)
    {
        if (Plan is not null) throw new ArgumentException($"Target '{target.Name}' is a Redis target; give -Target and -PointInTime (plans are for MariaDB).");
        if (Replace == (_destination is not null))
            throw new ArgumentException($"Redis target '{target.Name}': give -Destination <new directory> to write the dump for a new server, or -Replace to restore into the running server, not both.");
        var pointInTime = PointInTime.UtcDateTime;
        var snapshot = RedisRestore.Choose(policy.Repository, target.Name, pointInTime);
        var what = $"Restore {target.Name} from {RedisRestore.Describe(snapshot, pointInTime)}";
        var where = _destination ?? target.DataDir ?? target.Endpoint;
        var names = EngineRegistry.For(target).RestoreSteps(Replace);
        var (go, whatIf) = await AskAsync(where, what);
        if (whatIf)
        {
            for (var i = 0; i < names.Count; i++) await ShouldProcessAsync(where, $"Step {i + 1}: {names[i]}");
            return;
        }
        if (!go) return;
        string? password = null;
        if (Replace)
        {
            if (!Force && !await ShouldContinueAsync($"Stop Redis at {target.Endpoint} (SHUTDOWN NOSAVE: changes since {snapshot.Manifest.EndTime:u} are lost) and restart it on the snapshot? Its current files are kept beside it.", "Replace live data"))
                return;
            password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
        }
        var activity = what;
        var index = 0;
        var result = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = policy.Repository, Target = target, PointInTime = pointInTime, Destination = _destination, Replace = Replace,
            Password = password, Log = WriteVerboseAsync, Warn = WriteWarningAsync,
            StepStarted = name => WriteProgressAsync(new ProgressRecord(1, activity, $"Step {++index}: {name}")
                { PercentComplete = Math.Min(100, 100 * index / names.Count) }),
        }, CancelToken);
        WriteProgressAsync(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
        WriteObjectAsync(result);
    }
}

internal static class RestoreTargets
{
    public static TargetPolicy Require(BackupPolicy policy, string name)
    {
        var target = policy.FindTarget(name)
            ?? throw new ItemNotFoundException($"The policy {policy.Path} has no target '{name}'. Its targets: {string.Join(", ", policy.Targets.Select(t => t.Name))}.");
        return target;
    }
}
