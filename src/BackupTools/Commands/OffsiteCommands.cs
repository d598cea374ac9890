using System.Diagnostics;
using System.Management.Automation;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Copy-BackupSet: copies published sets to an offsite repository of the policy, encrypted on the way, each file read
/// back and checked, the manifest last; what is already there is not sent again. Takes records from Get-DbBackup or
/// Start-DbBackup on the pipeline, or copies every set of the offsite's targets not yet there.
/// </summary>
[Cmdlet(VerbsCommon.Copy, "BackupSet", DefaultParameterSetName = TargetSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(OffsiteCopyResult))]
public sealed class CopyBackupSetCommand : PolicyCmdlet
{
    private const string TargetSet = "Target";
    private const string RecordSet = "Record";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = RecordSet)]
    public BackupRecord[] InputObject { get; set; } = [];

    /// <summary>Only these targets (of the offsite's copies); all of them when omitted.</summary>
    [Parameter(Position = 0, ParameterSetName = TargetSet)]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    /// <summary>The offsite repository (a name under offsite: in the policy); may be left out when the policy has one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private readonly List<BackupRecord> _records = [];

    protected override Task ProcessRecordAsync()
    {
        _records.AddRange(InputObject);
        return Task.CompletedTask;
    }

    protected override async Task EndProcessingAsync()
    {
        var policy = LoadPolicy();
        var (offsite, store, key) = OpenOffsite(policy, Offsite);
        IReadOnlyList<CatalogEntry> sets;
        if (ParameterSetName == RecordSet)
        {
            var ids = _records.Where(r => r.Status == BackupOutcome.Succeeded).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var failed in _records.Where(r => r.Status != BackupOutcome.Succeeded))
                WriteWarningAsync($"Backup {failed.Id} of {failed.Target} failed when it was taken; there is no set to copy.");
            sets = OffsiteStores.SetsFor(policy, offsite, null).Where(e => ids.Contains(e.Manifest.Id)).ToList();
        }
        else sets = OffsiteStores.SetsFor(policy, offsite, Target);
        if (sets.Count == 0) return;
        var index = 0;
        foreach (var set in sets)
        {
            var m = set.Manifest;
            index++;
            if (!await ShouldProcessAsync(store.Describe, $"Copy {m.Target} {m.Type} {m.Id} (encrypted with key {key.Id})")) continue;
            WriteProgressAsync(new ProgressRecord(1, $"Copying to offsite {offsite.Name}", $"{m.Target} {m.Type} {m.Id}")
                { PercentComplete = Math.Min(100, 100 * (index - 1) / sets.Count) });
            var clock = Stopwatch.StartNew();
            OffsiteCopyResult result;
            try
            {
                var copied = await OffsiteCopier.CopySetAsync(policy.Repository, set, store, key, WriteVerboseAsync, CancelToken);
                result = Result(offsite, m, BackupOutcome.Succeeded, clock, policy.Path) with { Sent = copied.Sent, AlreadyThere = copied.AlreadyThere, BytesSent = copied.BytesSent };
            }
            catch (Exception e) when (e is not OperationCanceledException || !CancelToken.IsCancellationRequested)
            {
                result = Result(offsite, m, BackupOutcome.Failed, clock, policy.Path) with { Error = e.Message };
                WriteErrorAsync(EngineErrors.ToErrorRecord(e, result));
            }
            WriteObjectAsync(result);
        }
        WriteProgressAsync(new ProgressRecord(1, $"Copying to offsite {offsite.Name}", "Done") { RecordType = ProgressRecordType.Completed });
    }

    private static OffsiteCopyResult Result(OffsitePolicy offsite, BackupManifest m, BackupOutcome status, Stopwatch clock, string policyPath) => new()
    {
        Offsite = offsite.Name, Engine = m.Engine, Target = m.Target, Type = m.Type, Id = m.Id, Status = status, Duration = clock.Elapsed, PolicyPath = policyPath,
    };
}
