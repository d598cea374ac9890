using System.Management.Automation;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Get-DbBackup: the catalog as BackupRecords, oldest first; failed attempts come from the run journal.</summary>
[Cmdlet(VerbsCommon.Get, "DbBackup", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(BackupRecord))]
public sealed class GetDbBackupCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    [Parameter]
    [ValidateSet("Full", "Incremental", "Binlog", "Snapshot", IgnoreCase = true)]
    public string[]? Type { get; set; }

    /// <summary>Succeeded (the default: the sets you can restore from), Failed (attempts from the run journal), or both.</summary>
    [Parameter]
    public BackupOutcome[] Status { get; set; } = [BackupOutcome.Succeeded];

    /// <summary>Only backups started after this time (a DateTime without a zone is local time).</summary>
    [Parameter]
    public DateTime? After { get; set; }

    [Parameter]
    public DateTime? Before { get; set; }

    /// <summary>Only the newest n (after the other filters), still listed oldest first.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    /// <summary>List the sets of this offsite repository instead, from its manifests alone (no local repository needed).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var targets = SelectTargets(policy, Target).Select(t => t.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var types = Type?.Select(t => t.ToLowerInvariant()).ToHashSet();
        var after = After?.ToUniversalTime();
        var before = Before?.ToUniversalTime();
        var records = new List<BackupRecord>();
        if (Offsite is not null)
        {
            var (offsite, store, key) = OpenOffsite(policy, Offsite);
            // The offsite repository's own catalog, rebuilt from its manifests (Failed attempts live in the local journal only).
            records.AddRange((await BackupTools.Engine.Offsite.OffsiteCatalog.ListAsync(store, key, offsite.Name, CancelToken))
                .Select(e => BackupRecords.FromCatalog(e, policy.Path)));
        }
        else if (Status.Contains(BackupOutcome.Succeeded))
            records.AddRange(BackupCatalog.List(policy.Repository, unreadable: (path, why) => WriteWarningAsync($"Skipped '{path}': {why}"))
                .Select(e => BackupRecords.FromCatalog(e, policy.Path)));
        if (Offsite is null && Status.Contains(BackupOutcome.Failed))
            records.AddRange(BackupRecords.FailedFromJournal(policy.Repository, policy.Path));
        IEnumerable<BackupRecord> selected = records
            .Where(r => targets.Contains(r.Target))
            .Where(r => types is null || types.Contains(r.Type))
            .Where(r => after is null || r.StartTime > after)
            .Where(r => before is null || r.StartTime < before)
            .OrderBy(r => r.StartTime).ThenBy(r => r.Id, StringComparer.Ordinal);
        if (Last is { } n) selected = selected.TakeLast(n);
        foreach (var r in selected) WriteObjectAsync(r);
    }
}
