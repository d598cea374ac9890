using System.Management.Automation;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Remove-ExpiredBackup: applies the policy's retention without ever breaking a restore chain or the point-in-time
/// window; ends with each target's recoverable window before and after.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "ExpiredBackup", DefaultParameterSetName = TargetSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RetentionDecision))]
public sealed class RemoveExpiredBackupCommand : PolicyCmdlet
{
    private const string TargetSet = "Target";
    private const string RecordSet = "Record";

    [Parameter(Position = 0, ParameterSetName = TargetSet)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    /// <summary>Only these backups are considered for removal (every rule still applies).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = RecordSet)]
    public BackupRecord[] InputObject { get; set; } = [];

    /// <summary>Judge ages as of this time instead of now (e.g. -AsOf (Get-Date).AddDays(40) -WhatIf to see what will go).</summary>
    [Parameter]
    public DateTimeOffset? AsOf { get; set; }

    /// <summary>Apply retention to this offsite repository instead (its sets and model versions, by its own rules where it has them).</summary>
    [Parameter(ParameterSetName = TargetSet)]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private readonly List<BackupRecord> _records = [];

    protected override Task ProcessRecordAsync()
    {
        if (ParameterSetName == RecordSet) _records.AddRange(InputObject.Where(r => r.Status == BackupOutcome.Succeeded));
        return Task.CompletedTask;
    }

    protected override async Task EndProcessingAsync()
    {
        var policy = LoadPolicy();
        var now = AsOf?.UtcDateTime ?? DateTime.UtcNow;
        if (Offsite is not null)
        {
            await OffsiteAsync(policy, now);
            return;
        }
        var only = ParameterSetName == RecordSet ? _records.Select(r => r.Id).ToHashSet(StringComparer.Ordinal) : null;
        var names = ParameterSetName == RecordSet ? _records.Select(r => r.Target).Distinct(StringComparer.OrdinalIgnoreCase).ToArray() : Target;
        if (ParameterSetName == RecordSet && _records.Count == 0) return;
        if (ParameterSetName == TargetSet)
            foreach (var model in policy.Models.Where(m => Target is null || Target.Any(t => new WildcardPattern(t, WildcardOptions.IgnoreCase).IsMatch(m.Name))))
            {
                // ShouldProcess decides whether this is a what-if (then nothing is locked or written at all).
                var (go, whatIf) = await AskAsync($"model {model.Name}", "Remove the versions its retention expires");
                if (!go && !whatIf) continue;
                IReadOnlyList<RetentionDecision> gone;
                try
                {
                    gone = await BackupTools.Engine.Models.ModelRetention.RunAsync(policy.Repository, model,
                        (m, reason) => ShouldProcessAsync($"model {model.Name} version {m.Version}", $"Remove ({reason})"), WriteVerboseAsync, dryRun: whatIf, warn: WriteWarningAsync);
                }
                catch (InvalidDataException e)
                {
                    WriteErrorAsync(new ErrorRecord(e, "ModelRetentionRefused", ErrorCategory.InvalidData, model.Name));
                    continue;
                }
                foreach (var d in gone) WriteObjectAsync(d);
                if (gone.Count > 0) WriteHostAsync($"{model.Name}: removed {gone.Count} model version(s), {FormatBytes(gone.Sum(d => d.BytesFreed))}");
            }
        var modelNames = policy.Models.Select(m => m.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        names = names?.Where(n => !modelNames.Contains(n)).ToArray();
        if (names is { Length: 0 }) return;
        foreach (var target in SelectTargets(policy, names))
        {
            var engine = EngineRegistry.For(target);
            // ShouldProcess decides whether this is a what-if: then the plan is read without a lock, and nothing written.
            var (go, whatIf) = await AskAsync(target.Name, "Remove the backups its retention rules expire");
            if (!go && !whatIf) continue;
            Func<CatalogEntry, CancellationToken, Task>? removeFromServer = null;
            if (engine.RemovesFromServer && !whatIf)
            {
                string? secret;
                try { secret = SecretResolver.Resolve(target, null); }
                catch (SecretUnavailableException e)
                {
                    WriteErrorAsync(EngineErrors.ToErrorRecord(e, target.Name));
                    continue;
                }
                removeFromServer = engine.ServerRemoval(target, secret, WriteVerboseAsync);
            }
            RetentionOutcome outcome;
            try
            {
                outcome = await RetentionRunner.RunAsync(policy.Repository, target, now, only,
                    v => ShouldProcessAsync($"{target.Name} {v.Item.Type} {v.Item.Id}", $"Remove backup ({v.Reason})"),
                    WriteVerboseAsync, CancelToken, removeFromServer, dryRun: whatIf);
            }
            catch (ServerRemovalException e)
            {
                // The server refused to remove a set's data (after retries): that set stays; other targets go on.
                WriteErrorAsync(EngineErrors.ToErrorRecord(e.InnerException ?? e, target.Name));
                continue;
            }
            if (outcome.Skipped is not null)
            {
                WriteWarningAsync($"{target.Name}: nothing removed: {outcome.Skipped}");
                continue;
            }
            foreach (var kept in outcome.Kept) WriteVerboseAsync($"Kept {target.Name} {kept.Item.Type} {kept.Item.Id}: {kept.Reason}");
            foreach (var d in outcome.Removed) WriteObjectAsync(d);
            var freed = outcome.Removed.Sum(d => d.BytesFreed);
            var what = outcome.Declined.Count > 0 && outcome.Removed.Count == 0
                ? $"would remove {outcome.Declined.Count} backup(s), {FormatBytes(outcome.Declined.Sum(d => d.Item.StoredBytes))}"
                : $"removed {outcome.Removed.Count} backup(s), {FormatBytes(freed)}";
            WriteHostAsync($"{target.Name}: {what}; {engine.RetentionSummary(outcome)}");
        }
    }

    private async Task OffsiteAsync(BackupPolicy policy, DateTime now)
    {
        var (offsite, store, key) = OpenOffsite(policy, Offsite);
        // ShouldProcess decides whether this is a what-if: then the plan is listed and nothing is deleted there.
        var (go, whatIf) = await AskAsync(store.Describe, $"Remove what the retention of offsite {offsite.Name} expires");
        if (!go && !whatIf) return;
        var decisions = await BackupTools.Engine.Offsite.OffsiteRetention.RunAsync(policy, offsite, store, key, now,
            (what, action) => ShouldProcessAsync(what, action), WriteVerboseAsync, whatIf, CancelToken, WriteWarningAsync);
        foreach (var d in decisions) WriteObjectAsync(d);
        if (decisions.Any(d => d.Removed))
            WriteHostAsync($"offsite {offsite.Name}: removed {decisions.Count(d => d.Removed)} set(s) and model version(s), {FormatBytes(decisions.Where(d => d.Removed).Sum(d => d.BytesFreed))}");
    }
}
