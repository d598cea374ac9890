using System.Management.Automation;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Test-DbBackup: re-reads every file of each backup against the SHA-256 in its manifest; with -Prepare also restores
/// the MariaDB chain into a scratch directory with mariabackup --prepare. A corrupt or missing backup is a result
/// and a non-terminating error.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "DbBackup", DefaultParameterSetName = RecordSet)]
[OutputType(typeof(BackupVerification))]
[OutputType(typeof(RestoreResult))]
public sealed class TestDbBackupCommand : PolicyCmdlet
{
    private const string RecordSet = "Record";
    private const string TargetSet = "Target";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = RecordSet)]
    public BackupRecord[] InputObject { get; set; } = [];

    /// <summary>Test every backup of these targets (with -Type and -Last to narrow).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = TargetSet)]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Target { get; set; } = [];

    [Parameter(ParameterSetName = TargetSet)]
    [ValidateSet("Full", "Incremental", "Binlog", "Snapshot", IgnoreCase = true)]
    public string[]? Type { get; set; }

    [Parameter(ParameterSetName = TargetSet)]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    /// <summary>Also extract each MariaDB full/incremental backup with its chain and run mariabackup --prepare on it.</summary>
    [Parameter]
    public SwitchParameter Prepare { get; set; }

    /// <summary>Instead of re-hashing: restore each target to -PointInTime (or a random point in its window) in scratch and validate.</summary>
    [Parameter]
    public SwitchParameter Restore { get; set; }

    /// <summary>With -Restore: the point to restore to; a random point inside the window when omitted.</summary>
    [Parameter]
    public DateTimeOffset? PointInTime { get; set; }

    /// <summary>With -Restore and -Target: the drill from this offsite repository (its sets fetched, decrypted and checked into scratch).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private readonly HashSet<(string Root, string Target)> _restored = [];

    protected override async Task ProcessRecordAsync()
    {
        if (Offsite is not null)
        {
            await TestRestoreFromOffsiteAsync();
            return;
        }
        if (Restore)
        {
            foreach (var (entry, root) in Entries())
            {
                if (!_restored.Add((root, entry.Manifest.Target)) || EngineRegistry.ForName(entry.Manifest.Engine) is not ITargetEngine engine) continue;
                var policyTarget = PolicyTarget(entry.Manifest.Target);
                if (await engine.TestRestoreAsync(root, entry.Manifest.Target, policyTarget, PointInTime?.UtcDateTime, Callbacks, CancelToken) is { } restored)
                    WriteObjectAsync(restored);
                else
                    WriteWarningAsync($"{entry.Manifest.Target}: {engine.Name} restores go into the server itself and cannot be tried in scratch; " +
                                      "restore to a new name instead (Restore-DbToPointInTime -RenamePattern for Elasticsearch).");
            }
            return;
        }
        foreach (var (entry, root) in Entries())
        {
            var m = entry.Manifest;
            var progress = CreateTransferProgress($"Testing {m.Target} {m.Type} {m.Id}");
            var check = await BackupSetVerifier.CheckAsync(entry, progress, CancelToken);
            bool? prepared = null;
            string? detail = check.Detail;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            if (check.Good && Prepare && EngineRegistry.ForName(m.Engine) is ITargetEngine engine && engine.CanPrepare(m))
            {
                try
                {
                    await engine.PrepareAsync(root, entry, PolicyTarget(m.Target), Callbacks, CancelToken);
                    prepared = true;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    prepared = false;
                    detail = e.Message;
                }
            }
            var status = check.Missing ? VerificationStatus.Missing
                : check.Corrupt || prepared == false ? VerificationStatus.Corrupt
                : VerificationStatus.Verified;
            var result = new BackupVerification
            {
                Id = m.Id, Target = m.Target, Type = m.Type, Status = status, FilesChecked = check.FilesChecked,
                BytesChecked = check.BytesChecked, Prepared = prepared, Duration = check.Duration + clock.Elapsed,
                File = check.File, Detail = detail, Path = entry.Path,
            };
            if (status != VerificationStatus.Verified)
                WriteErrorAsync(new ErrorRecord(new InvalidDataException($"Backup {m.Id} of {m.Target} is {status.ToString().ToLowerInvariant()}: {detail}"),
                    "Backup" + status, ErrorCategory.InvalidData, result));
            WriteObjectAsync(result);
            WriteProgressAsync(new ProgressRecord(1, $"Testing {m.Target} {m.Type} {m.Id}", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    /// <summary>
    /// The weekly drill from the offsite copy: a host that never saw the local repository can run it. The target's sets
    /// are fetched into scratch, decrypted and checked, restored there and validated, then removed.
    /// </summary>
    private async Task TestRestoreFromOffsiteAsync()
    {
        if (!Restore || ParameterSetName != TargetSet)
            throw new ArgumentException("-Offsite goes with -Restore and -Target: Test-DbBackup -Target <name> -Restore -Offsite <offsite> tries a restore from the offsite copy.");
        var policy = LoadPolicy();
        var (offsite, store, key) = OpenOffsite(policy, Offsite);
        foreach (var target in SelectTargets(policy, Target))
        {
            var engine = EngineRegistry.For(target);
            if (!engine.CanTestRestore)
            {
                WriteWarningAsync($"{target.Name}: {engine.Name} restores go into the server itself and cannot be tried in scratch.");
                continue;
            }
            using var scratch = ScratchDirectory.Create(policy.Repository, "offsite-test-" + target.Name);
            if (await BackupTools.Engine.Offsite.OffsiteFetch.FetchTargetAsync(store, key, offsite.Name, target.Name, scratch.Path, WriteVerboseAsync, CancelToken) == 0)
            {
                // Nothing offsite to restore from is not a pass: the drill exists to find exactly this.
                WriteErrorAsync(new ErrorRecord(new ItemNotFoundException($"Offsite '{offsite.Name}' holds no sets of {target.Name}: there is nothing to restore from there."),
                    "OffsiteEmpty", ErrorCategory.ObjectNotFound, target.Name));
                continue;
            }
            if (await engine.TestRestoreAsync(scratch.Path, target.Name, target, PointInTime?.UtcDateTime, Callbacks, CancelToken) is { } restored)
                WriteObjectAsync(restored);
        }
    }

    private EngineCallbacks Callbacks => new()
    {
        Log = WriteVerboseAsync, Warn = WriteWarningAsync, Progress = (activity, id) => CreateTransferProgress(activity, id),
        Step = (activity, step) => WriteProgressAsync(step is null
            ? new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed }
            : new ProgressRecord(1, activity, step)),
    };

    /// <summary>The target's entry in the policy (its toolsDir, say), when a policy is at hand.</summary>
    private TargetPolicy? PolicyTarget(string target) => ParameterSetName == TargetSet || ResolvedPolicyPath is not null
        ? LoadPolicy().Targets.FirstOrDefault(t => t.Name == target)
        : null;

    /// <summary>The sets to test with the repository each lives in.</summary>
    private IEnumerable<(CatalogEntry Entry, string Root)> Entries()
    {
        if (ParameterSetName == TargetSet)
        {
            var policy = LoadPolicy();
            var types = Type?.Select(t => t.ToLowerInvariant()).ToHashSet();
            foreach (var target in SelectTargets(policy, Target))
            {
                IEnumerable<CatalogEntry> sets = BackupCatalog.List(policy.Repository, target: target.Name)
                    .Where(e => e.Manifest.Engine == EngineRegistry.For(target).Name && (types is null || types.Contains(e.Manifest.Type)))
                    .Reverse();
                if (Last is { } n) sets = sets.TakeLast(n);
                foreach (var e in sets) yield return (e, policy.Repository);
            }
            yield break;
        }
        foreach (var record in InputObject)
        {
            if (record.Status != BackupOutcome.Succeeded || record.Path is null)
            {
                WriteWarningAsync($"Backup {record.Id} of {record.Target} failed when it was taken; there is no backup set to test.");
                continue;
            }
            var manifestPath = Path.Combine(record.Path, BackupManifest.FileName);
            // <root>/<engine>/<target>/<type>/<id>
            var root = Path.GetFullPath(Path.Combine(record.Path, "..", "..", "..", ".."));
            var entry = BackupCatalog.List(root, record.Engine, record.Target, record.Type).FirstOrDefault(e => e.Manifest.Id == record.Id);
            if (entry is null)
            {
                var missing = new BackupVerification
                {
                    Id = record.Id, Target = record.Target, Type = record.Type, Status = VerificationStatus.Missing,
                    File = BackupManifest.FileName, Detail = $"'{manifestPath}' is gone or unreadable.", Path = record.Path,
                };
                WriteErrorAsync(new ErrorRecord(new InvalidDataException($"Backup {record.Id} of {record.Target} is missing: {missing.Detail}"),
                    "BackupMissing", ErrorCategory.ObjectNotFound, missing));
                WriteObjectAsync(missing);
                continue;
            }
            yield return (entry, root);
        }
    }
}
