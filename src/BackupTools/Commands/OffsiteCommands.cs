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
    private const string ModelSet = "Model";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = RecordSet)]
    public BackupRecord[] InputObject { get; set; } = [];

    /// <summary>Model versions from Get-AiModelBackup or Backup-AiModel: their blobs (those not there yet) and manifests.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = ModelSet)]
    public ModelBackupRecord[] ModelVersion { get; set; } = [];

    /// <summary>Only these targets and models (of the offsite's copies); all of them when omitted.</summary>
    [Parameter(Position = 0, ParameterSetName = TargetSet)]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    /// <summary>The offsite repository (a name under offsite: in the policy); may be left out when the policy has one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    /// <summary>Also read every object back and decrypt it against its SHA-256 (the store's per-part MD5 and the stored size and SHA-256 are always checked).</summary>
    [Parameter]
    public SwitchParameter ReadBack { get; set; }

    private readonly List<BackupRecord> _records = [];
    private readonly List<ModelBackupRecord> _models = [];

    protected override Task ProcessRecordAsync()
    {
        _records.AddRange(InputObject);
        _models.AddRange(ModelVersion);
        return Task.CompletedTask;
    }

    protected override async Task EndProcessingAsync()
    {
        var policy = LoadPolicy();
        // A copy that cannot even start (a secret or the key missing in the job's environment) is a failed copy in
        // the journal, so Get-BackupStatus says Critical instead of staying quiet while nothing leaves the host.
        var chosen = FindOffsite(policy, Offsite);
        OffsitePolicy offsite;
        IRemoteStore store;
        BackupTools.Engine.Encryption.EncryptionKey key;
        try { (offsite, store, key) = Open(policy, chosen); }
        catch (Exception e)
        {
            // Recorded unless this is a what-if (which writes nothing, the journal included).
            if ((await AskAsync($"offsite {chosen.Name}", "Record the failed copy run in the offsite journal")).Go)
                OffsiteJournal.Append(policy.Repository, chosen.Name, new OffsiteJournalEntry(DateTime.UtcNow, RunSucceeded: false, Error: e.Message));
            throw;
        }
        IReadOnlyList<CatalogEntry> sets;
        if (ParameterSetName == RecordSet)
        {
            var ids = _records.Where(r => r.Status == BackupOutcome.Succeeded).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var failed in _records.Where(r => r.Status != BackupOutcome.Succeeded))
                WriteWarningAsync($"Backup {failed.Id} of {failed.Target} failed when it was taken; there is no set to copy.");
            sets = OffsiteStores.SetsFor(policy, offsite, null).Where(e => ids.Contains(e.Manifest.Id)).ToList();
        }
        else if (ParameterSetName == ModelSet) sets = [];
        else sets = OffsiteStores.SetsFor(policy, offsite, Target);
        var models = ParameterSetName switch
        {
            ModelSet => _models.Where(m => m.Status is ModelBackupOutcome.Succeeded or ModelBackupOutcome.Unchanged)
                .Select(m => BackupTools.Engine.Models.ModelRestore.Find(policy.Repository, m.Name, m.Version)
                             ?? throw new ItemNotFoundException($"Model '{m.Name}' version '{m.Version}' is not in {policy.Repository}."))
                .ToList(),
            RecordSet => [],
            _ => OffsiteStores.ModelsFor(policy, offsite, Target),
        };
        // The config history goes with a copy of everything (no -Target, no records) when the offsite copies it.
        var config = ParameterSetName == TargetSet && (Target is null || Target.Contains("config", StringComparer.OrdinalIgnoreCase))
                     && (offsite.Copies is null || offsite.Copies.Contains("config"));
        if (sets.Count == 0 && models.Count == 0 && !config)
        {
            // Nothing needed copying: a successful run (it clears a failure whose set has gone), unless this is a what-if.
            if ((await AskAsync(store.Describe, "Record that nothing needed copying")).Go)
                OffsiteJournal.Append(policy.Repository, offsite.Name, new OffsiteJournalEntry(DateTime.UtcNow, RunSucceeded: true));
            return;
        }
        var options = OffsiteStores.CopyOptions(policy, offsite, ReadBack);
        string? firstError = null;
        var attempted = false;
        // A set is journaled once, when it is first known to be there: the hourly run that finds it there again adds no line.
        var journaled = OffsiteJournal.Read(policy.Repository, offsite.Name).Where(e => e.Set is not null).Select(e => e.Set!).ToHashSet(StringComparer.Ordinal);
        void Arrived(string set, long bytes)
        {
            if (journaled.Add(set)) OffsiteJournal.Append(policy.Repository, offsite.Name, new OffsiteJournalEntry(DateTime.UtcNow, set, bytes));
        }
        void Failed(string error) => firstError ??= error;
        var index = 0;
        foreach (var set in sets)
        {
            var m = set.Manifest;
            index++;
            if (!await ShouldProcessAsync(store.Describe, $"Copy {m.Target} {m.Type} {m.Id} (encrypted with key {key.Id})")) continue;
            WriteProgressAsync(new ProgressRecord(1, $"Copying to offsite {offsite.Name}", $"{m.Target} {m.Type} {m.Id}")
                { PercentComplete = Math.Min(100, 100 * (index - 1) / (sets.Count + models.Count)) });
            var clock = Stopwatch.StartNew();
            OffsiteCopyResult result;
            try
            {
                attempted = true;
                var copied = await OffsiteCopier.CopySetAsync(policy.Repository, set, store, key, options, WriteVerboseAsync, CancelToken);
                Arrived(copied.SetPath, copied.BytesSent);
                result = Result(offsite, m, BackupOutcome.Succeeded, clock, policy.Path) with { Sent = copied.Sent, AlreadyThere = copied.AlreadyThere, BytesSent = copied.BytesSent, PartsResumed = copied.PartsResumed };
            }
            catch (Exception e) when (e is not OperationCanceledException || !CancelToken.IsCancellationRequested)
            {
                result = Result(offsite, m, BackupOutcome.Failed, clock, policy.Path) with { Error = e.Message };
                Failed($"{m.Target} {m.Type} {m.Id}: {e.Message}");
                WriteErrorAsync(EngineErrors.ToErrorRecord(e, result));
            }
            WriteObjectAsync(result);
        }
        foreach (var m in models)
        {
            index++;
            if (!await ShouldProcessAsync(store.Describe, $"Copy model {m.Name} {m.Version} (the blobs not there yet, encrypted with key {key.Id})")) continue;
            WriteProgressAsync(new ProgressRecord(1, $"Copying to offsite {offsite.Name}", $"model {m.Name} {m.Version}")
                { PercentComplete = Math.Min(100, 100 * (index - 1) / (sets.Count + models.Count)) });
            var clock = Stopwatch.StartNew();
            var result = new OffsiteCopyResult
            {
                Offsite = offsite.Name, Engine = BackupTools.Engine.Models.ModelBackup.Engine, Target = m.Name, Type = "model", Id = m.Version,
                Status = BackupOutcome.Succeeded, PolicyPath = policy.Path,
            };
            try
            {
                attempted = true;
                var copied = await BackupTools.Engine.Offsite.OffsiteModels.CopyVersionAsync(policy.Repository, m, store, key, options, WriteVerboseAsync, CancelToken);
                Arrived(copied.SetPath, copied.BytesSent);
                result = result with { Sent = copied.Sent, AlreadyThere = copied.AlreadyThere, BytesSent = copied.BytesSent, PartsResumed = copied.PartsResumed, Duration = clock.Elapsed };
            }
            catch (Exception e) when (e is not OperationCanceledException || !CancelToken.IsCancellationRequested)
            {
                result = result with { Status = BackupOutcome.Failed, Error = e.Message, Duration = clock.Elapsed };
                Failed($"model {m.Name} {m.Version}: {e.Message}");
                WriteErrorAsync(EngineErrors.ToErrorRecord(e, result));
            }
            WriteObjectAsync(result);
        }
        if (config && await ShouldProcessAsync(store.Describe, $"Copy the config history (the Git objects not there yet, encrypted with key {key.Id})"))
        {
            var clock = Stopwatch.StartNew();
            var result = new OffsiteCopyResult
            {
                Offsite = offsite.Name, Engine = "config", Target = "config", Type = "history", Id = "", Status = BackupOutcome.Succeeded, PolicyPath = policy.Path,
            };
            try
            {
                attempted = true;
                if (await BackupTools.Engine.Offsite.OffsiteConfig.CopyAsync(policy.Repository, store, key, options, WriteVerboseAsync, CancelToken) is { } copied)
                    WriteObjectAsync(result with
                    {
                        Id = copied.SetPath[(copied.SetPath.LastIndexOf('/') + 1)..], Sent = copied.Sent, AlreadyThere = copied.AlreadyThere, BytesSent = copied.BytesSent, Duration = clock.Elapsed,
                    });
            }
            catch (Exception e) when (e is not OperationCanceledException || !CancelToken.IsCancellationRequested)
            {
                result = result with { Status = BackupOutcome.Failed, Error = e.Message, Duration = clock.Elapsed };
                Failed($"config history: {e.Message}");
                WriteErrorAsync(EngineErrors.ToErrorRecord(e, result));
                WriteObjectAsync(result);
            }
        }
        // The run's outcome, for Get-BackupStatus (what a -WhatIf run only listed is not a copy).
        if (attempted || firstError is not null)
            OffsiteJournal.Append(policy.Repository, offsite.Name, new OffsiteJournalEntry(DateTime.UtcNow, RunSucceeded: firstError is null, Error: firstError));
        WriteProgressAsync(new ProgressRecord(1, $"Copying to offsite {offsite.Name}", "Done") { RecordType = ProgressRecordType.Completed });
    }

    private static OffsiteCopyResult Result(OffsitePolicy offsite, BackupManifest m, BackupOutcome status, Stopwatch clock, string policyPath) => new()
    {
        Offsite = offsite.Name, Engine = m.Engine, Target = m.Target, Type = m.Type, Id = m.Id, Status = status, Duration = clock.Elapsed, PolicyPath = policyPath,
    };
}
