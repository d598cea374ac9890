using System.Management.Automation;
using BackupTools.Engine.Status;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Get-BackupStatus: one BackupStatus per target and backup type, then the repository's StorageStatus.</summary>
[Cmdlet(VerbsCommon.Get, "BackupStatus", DefaultParameterSetName = DefaultSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BackupStatus), typeof(StreamStatus), typeof(OffsiteStatus), typeof(RecoveryStatus), typeof(StorageStatus))]
[OutputType(typeof(FileInfo), ParameterSetName = [ReportSet])]
public sealed class GetBackupStatusCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";
    private const string ReportSet = "Report";

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    /// <summary>Judge the state as of this time instead of now.</summary>
    [Parameter]
    public DateTimeOffset? AsOf { get; set; }

    /// <summary>Write the status as one static HTML page (inline SVG charts, no script) to this file instead of returning it.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ReportSet)]
    [ValidateNotNullOrEmpty]
    public string? Report { get; set; }

    private string? _report;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _report = Report is null ? null : ResolvePath(this, Report);
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        // -Target names models too (their recovery objectives); the platform's own row comes with the whole policy.
        var models = policy.Models.Where(m => Target is null || Target.Any(t => new WildcardPattern(t, WildcardOptions.IgnoreCase).IsMatch(m.Name))).ToList();
        var targetNames = Target?.Where(n => !policy.Models.Any(m => string.Equals(m.Name, n, StringComparison.OrdinalIgnoreCase))).ToArray();
        var targets = targetNames is { Length: 0 } ? [] : SelectTargets(policy, targetNames).ToList();
        var snapshot = StatusService.CollectAll(policy, targets, models, AsOf?.UtcDateTime ?? DateTime.UtcNow,
            (path, why) => WriteWarningAsync($"Skipped '{path}': {why}"));
        var (backups, storage) = (snapshot.Backups, snapshot.Storage);
        if (_report is not null)
        {
            var asOf = AsOf?.UtcDateTime ?? DateTime.UtcNow;
            if (!await ShouldProcessAsync(_report, $"Write the status report ({backups.Count} backup statuses, {snapshot.Recovery.Count} recovery statuses, {snapshot.Drills.Count} drills)")) return;
            BackupTools.Engine.Repository.PublishedFile.Write(_report, StatusReport.Render(policy, snapshot, snapshot.StorageSeries(asOf), asOf), "the status report");
            WriteObjectAsync(new FileInfo(_report));
            return;
        }
        foreach (var s in backups.OrderByDescending(s => s.Severity).ThenBy(s => s.Target, StringComparer.OrdinalIgnoreCase).ThenBy(s => s.Type))
            WriteObjectAsync(s);
        foreach (var st in StatusService.Streams(policy, AsOf?.UtcDateTime ?? DateTime.UtcNow)
                     .Where(st => Target is null || Target.Any(t => new WildcardPattern(t, WildcardOptions.IgnoreCase).IsMatch(st.Target))))
            WriteObjectAsync(st);
        // Offsite lag belongs to no one target: shown when the status is asked for the whole policy.
        if (Target is null)
            foreach (var o in OffsiteStatusCalculator.Compute(policy, AsOf?.UtcDateTime ?? DateTime.UtcNow))
                WriteObjectAsync(o);
        foreach (var r in snapshot.Recovery.Where(r => Target is null || r.Kind != "platform"))
            WriteObjectAsync(r);
        WriteObjectAsync(storage);
    }
}

/// <summary>Export-BackupMetric: the status as a Prometheus node_exporter textfile.</summary>
[Cmdlet(VerbsData.Export, "BackupMetric", DefaultParameterSetName = DefaultSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class ExportBackupMetricCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    /// <summary>The .prom file to write (replaced atomically), e.g. /var/lib/node_exporter/textfile/backuptools.prom.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    private string? _path;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _path = ResolvePath(this, Path);
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var now = DateTime.UtcNow;
        var snapshot = StatusService.CollectAll(policy, policy.Targets, policy.Models, now);
        var (backups, storage) = (snapshot.Backups, snapshot.Storage);
        var text = PrometheusTextfile.Render(backups, storage, OffsiteStatusCalculator.Compute(policy, now), StatusService.Streams(policy, now), snapshot.Recovery, now);
        if (!await ShouldProcessAsync(_path!, $"Write {backups.Count} backup status series and the storage status")) return;
        PrometheusTextfile.Write(_path!, text);
        WriteObjectAsync(new FileInfo(_path!));
    }
}
