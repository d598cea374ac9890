using System.Management.Automation;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
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

    private readonly HashSet<(string Root, string Target)> _restored = [];

    protected override async Task ProcessRecordAsync()
    {
        if (Restore)
        {
            foreach (var (entry, root) in Entries())
            {
                if (entry.Manifest.Engine == MariaDbCatalog.Engine && _restored.Add((root, entry.Manifest.Target)))
                    WriteObjectAsync(await TestRestoreAsync(root, entry.Manifest.Target));
                else if (entry.Manifest.Engine == RedisBackup.Engine && _restored.Add((root, entry.Manifest.Target)))
                    WriteObjectAsync(await TestRedisRestoreAsync(root, entry.Manifest.Target));
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
            if (check.Good && Prepare && m.Engine == MariaDbCatalog.Engine && m.Type is MariaDbCatalog.Full or MariaDbCatalog.Incremental)
            {
                try
                {
                    var chain = MariaDbCatalog.Chain(root, entry);
                    using var scratch = ScratchDirectory.Create(root, "test-" + m.Id);
                    await BackupPreparer.PrepareChainAsync(chain.Select(MariaDbBackup.ToLink).ToList(), scratch, progress, WriteVerboseAsync, CancelToken, ToolsFor(m.Target));
                    prepared = true;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    prepared = false;
                    detail = "mariabackup --prepare of its chain failed: " + e.Message;
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

    /// <summary>A whole restore into scratch at the chosen point, validated, then removed: proof the backups restore.</summary>
    private async Task<RestoreResult> TestRestoreAsync(string root, string target)
    {
        DateTime point;
        if (PointInTime is { } p) point = p.UtcDateTime;
        else
        {
            // A random moment some backup serves: the window can have stretches no restore reaches (a timeline
            // switch before its first full backup), and a test restore there would raise a false alarm.
            // Only what the tools at hand can restore: after a server upgrade the older release's backups need that
            // release's mariabackup, and testing them with the new one would be a false alarm every week.
            var (release, _) = await ToolsFor(target).MariaBackupReleaseAsync(CancelToken);
            var spans = RestorePlanner.Spans(root, target, m => MariaDbTools.Release(m.ServerVersion) is not { } r || r == release);
            if (RestorePlanner.Spans(root, target).Count > spans.Count || spans.Count == 0)
                WriteWarningAsync($"Target {target}: some backups were made by another MariaDB release than this host's mariabackup ({release}); " +
                                  "restores to their times need that release's tools (toolsDir) and are not tested here.");
            if (spans.Count == 0)
                throw new InvalidOperationException($"Target {target} has no backup of MariaDB {release}, the release of the mariabackup here: nothing to test a restore with. Set toolsDir on the target to the release the backups were made with.");
            point = RestorePlanner.RandomPoint(spans, Random.Shared);
            WriteVerboseAsync($"Restorable spans of {target}: {string.Join("; ", spans.Select(s => $"{s.From:u} to {s.To:u} (timeline {s.Timeline})"))}; testing a restore to {point:u}");
        }
        var planned = RestorePlanner.Plan(root, target, point);
        using var scratch = ScratchDirectory.Create(root, "test-restore-" + target);
        var activity = $"Test restore of {target} to {point:u}";
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = Path.Combine(scratch.Path, "data"), Validation = RestoreValidation.CheckTable, Tools = ToolsFor(target),
            Log = WriteVerboseAsync, Progress = CreateTransferProgress(activity, 2),
            StepStarted = name => WriteProgressAsync(new ProgressRecord(1, activity, name)),
        }, CancelToken);
        WriteProgressAsync(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
        return result;
    }

    /// <summary>Redis: the snapshot at or before the point (the newest without one) written out in scratch, hash- and CRC-checked, key counts compared.</summary>
    private async Task<RestoreResult> TestRedisRestoreAsync(string root, string target)
    {
        using var scratch = ScratchDirectory.Create(root, "test-restore-" + target);
        return await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = root, Target = new TargetPolicy { Name = target, Engine = TargetEngine.Redis },
            PointInTime = PointInTime?.UtcDateTime ?? DateTime.UtcNow, Destination = Path.Combine(scratch.Path, "data"), Log = WriteVerboseAsync,
        }, CancelToken);
    }

    /// <summary>The target's MariaDB tools (its toolsDir in the policy), else those on PATH.</summary>
    private MariaDbTools ToolsFor(string target) => ParameterSetName == TargetSet || ResolvedPolicyPath is not null
        ? new MariaDbTools(LoadPolicy().Targets.FirstOrDefault(t => t.Name == target)?.ToolsDir)
        : MariaDbTools.FromPath;

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
                    .Where(e => e.Manifest.Engine == StatusService.EngineDirectory(target.Engine) && (types is null || types.Contains(e.Manifest.Type)))
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
