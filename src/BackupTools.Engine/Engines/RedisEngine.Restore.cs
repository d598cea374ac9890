using BackupTools.Engine.Repository;
using BackupTools.Engine.Redis;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

internal sealed partial class RedisEngine
{
    public bool NeedsSecretToPlan(RestoreOptions options) => false;

    public Task<RestorePlan?> PlanAsync(RestoreOptions options, bool verifyChecksums, IProgress<TransferProgress>? progress, CancellationToken ct) =>
        Task.FromResult<RestorePlan?>(null);

    public void CheckRestoreOptions(RestoreOptions o)
    {
        var target = o.Target;
        if (o.Plan is not null) throw new ArgumentException($"Target '{target.Name}' is a Redis target; give -Target and -PointInTime (plans are for MariaDB).");
        if (o.Index.Count > 0 || o.RenamePattern is not null || o.RenameReplacement is not null)
            throw new ArgumentException($"-Index, -RenamePattern and -RenameReplacement are for Elasticsearch targets; '{target.Name}' is a Redis target.");
        if (o.Replace == (o.Destination is not null))
            throw new ArgumentException($"Redis target '{target.Name}': give -Destination <new directory> to write the dump for a new server, or -Replace to restore into the running server, not both.");
    }

    public Task<PreparedRestore> PrepareRestoreAsync(RestoreOptions o, string? secret, CancellationToken ct)
    {
        var target = o.Target;
        CheckRestoreOptions(o);
        var snapshot = RedisRestore.Choose(o.RepositoryRoot, target.Name, o.PointInTime);
        var what = $"Restore {target.Name} from {RedisRestore.Describe(snapshot, o.PointInTime)}";
        var names = RestoreSteps(o.Replace);
        return Task.FromResult(new PreparedRestore
        {
            What = what,
            Where = o.Destination ?? target.DataDir ?? target.Endpoint,
            Steps = names.Select((n, i) => $"Step {i + 1}: {n}").ToList(),
            ReplaceQuestion = o.Replace ? $"Stop Redis at {target.Endpoint} (SHUTDOWN NOSAVE: changes since {snapshot.Manifest.EndTime:u} are lost) and restart it on the snapshot? Its current files are kept beside it." : null,
            NeedsSecret = o.Replace,
            RunAsync = async (password, callbacks, token) =>
            {
                var result = await RedisRestore.RunAsync(new RedisRestoreRequest
                {
                    RepositoryRoot = o.RepositoryRoot, Target = target, PointInTime = o.PointInTime, Destination = o.Destination, Replace = o.Replace,
                    Password = password, Log = callbacks.Log, Warn = callbacks.Warn, StepStarted = name => callbacks.Step?.Invoke(what, name),
                }, token);
                callbacks.Step?.Invoke(what, null);
                return result;
            },
        });
    }
}
