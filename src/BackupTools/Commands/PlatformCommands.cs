using System.Collections;
using System.Management.Automation;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Platform;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>What the platform cmdlets share: running planned parts with progress, and the validation of the whole.</summary>
public abstract class PlatformRunCmdlet : PolicyCmdlet
{
    protected async Task<PlatformRestoreResult> RunPartsAsync(BackupPolicy policy, DateTime asOf, IReadOnlyList<PlatformPartRunner> parts,
        string? destination, ScriptBlock? validationScript, bool drill)
    {
        var done = 0;
        var activity = $"{(drill ? "Drill: restoring the platform into scratch" : "Restoring the platform")} to {asOf:u}";
        var result = await PlatformRestore.RunAsync(asOf, parts, destination, WholeValidation(validationScript),
            part => new EngineCallbacks
            {
                Log = m => WriteVerboseAsync($"{part.Plan.Part}: {m}"), Warn = m => WriteWarningAsync($"{part.Plan.Part}: {m}"),
                Step = (_, step) => WriteProgressAsync(new ProgressRecord(1, activity,
                    step is null ? $"{part.Plan.Part}: done ({Interlocked.Increment(ref done)} of {parts.Count} parts)" : $"{part.Plan.Part}: {step}")
                    { PercentComplete = Math.Min(99, 100 * done / parts.Count) }),
            }, policy.Path, drill, CancelToken);
        WriteProgressAsync(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
        return result;
    }

    private Func<IReadOnlyDictionary<string, string>, Task<bool>>? WholeValidation(ScriptBlock? script) => script is null ? null : locations => InvokeOnPipelineAsync(() =>
    {
        var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (var (part, where) in locations) table[part] = where;
        var output = script.Invoke(table);
        return output.Count > 0 && LanguagePrimitives.IsTrue(output[^1]);
    });

    protected void WriteFailure(PlatformRestoreResult result, string what) =>
        WriteErrorAsync(new ErrorRecord(new InvalidOperationException(result.Error), result.Drill ? "PlatformDrillFailed" : "PlatformRestoreFailed",
            ErrorCategory.InvalidResult, result.AsOf)
        {
            ErrorDetails = new ErrorDetails($"{what} to {result.AsOf:u} failed: {result.Error} The result lists every part."),
        });
}

/// <summary>What Get-PlatformRestorePlan and Restore-Platform share: the point, where new locations go, which parts are replaced.</summary>
public abstract class PlatformCmdlet : PlatformRunCmdlet
{
    /// <summary>The point to restore the platform to; a DateTime without a zone is this machine's local time.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PointInTime")]
    public DateTimeOffset AsOf { get; set; }

    /// <summary>A new or empty directory; each part not replaced lands in a directory of its own under it.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    public string? Destination { get; set; }

    /// <summary>Parts restored into their live place instead (target or model names, config paths), or * for every part.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Replace { get; set; } = [];

    private string? _destination;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _destination = ResolvePath(this, Destination);
    }

    protected async Task<IReadOnlyList<PlatformPartRunner>> PrepareAsync(BackupPolicy policy, RestoreValidation validation)
    {
        var platform = policy.Platform
            ?? throw new ItemNotFoundException($"The policy {policy.Path} has no platform: section. Add one naming the parts restored together, e.g. platform: {{ targets: [main-db], models: [llm], config: [/etc/llm] }}; see about_BackupTools_Platform.");
        var known = platform.Targets.Concat(platform.Models).Concat(platform.Config).ToList();
        foreach (var name in Replace.Where(r => r != "*" && !known.Contains(r.TrimEnd('/'), StringComparer.Ordinal)))
            throw new ArgumentException($"-Replace '{name}' is not a part of the platform; its parts: {string.Join(", ", known)} (or * for all).");
        if (_destination is not null && Directory.Exists(_destination) && Directory.EnumerateFileSystemEntries(_destination).Any())
            throw new ArgumentException($"-Destination '{_destination}' is not empty; give a new or empty directory, so that no restored part lands over other files.");
        return await PlatformPlanner.PrepareAsync(new PlatformRequest
        {
            Policy = policy, AsOf = AsOf.UtcDateTime, Destination = _destination, Validation = validation,
            Replace = (_, part) => Replace.Contains("*") || Replace.Any(r => r.TrimEnd('/') == part),
            Secret = target => SecretResolver.Resolve(target, null),
        }, CancelToken);
    }

    protected string? ResolvedDestination => _destination;
}

/// <summary>Get-PlatformRestorePlan: every part of the platform at one point, what each reads and how far it lands from the point; nothing is touched.</summary>
[Cmdlet(VerbsCommon.Get, "PlatformRestorePlan", DefaultParameterSetName = "Default")]
[OutputType(typeof(PlatformRestorePlan))]
public sealed class GetPlatformRestorePlanCommand : PlatformCmdlet
{
    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var parts = await PrepareAsync(policy, RestoreValidation.RowCount);
        foreach (var p in parts)
        {
            foreach (var w in p.Plan.Warnings) WriteWarningAsync($"{p.Plan.Part}: {w}");
            if (p.Plan.Problem is { } problem) WriteWarningAsync($"{p.Plan.Part} cannot be restored to {AsOf.UtcDateTime:u}: {problem}");
        }
        WriteObjectAsync(new PlatformRestorePlan { AsOf = AsOf.UtcDateTime, Parts = parts.Select(p => p.Plan).ToList(), Destination = ResolvedDestination, PolicyPath = policy.Path });
    }
}

/// <summary>
/// Restore-Platform: every part of the platform to one point: the parts in parallel where they share no server, each
/// validated by its own engine, then the whole by -ValidationScript; one result with the parts.
/// </summary>
[Cmdlet(VerbsData.Restore, "Platform", DefaultParameterSetName = "Default", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PlatformRestoreResult))]
public sealed class RestorePlatformCommand : PlatformCmdlet
{
    /// <summary>How restored databases are checked (RowCount, or CheckTable: every index too).</summary>
    [Parameter]
    public RestoreValidation Validation { get; set; } = RestoreValidation.RowCount;

    /// <summary>Gets a hashtable of part → location once every part is back; must return $true, else the restore is reported failed.</summary>
    [Parameter]
    public ScriptBlock? ValidationScript { get; set; }

    /// <summary>With -Replace: do not ask again before live data is replaced.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var parts = await PrepareAsync(policy, Validation);
        if (parts.FirstOrDefault(p => p.Plan.Problem is not null) is { } bad)
            throw new InvalidOperationException($"The platform cannot be restored to {AsOf.UtcDateTime:u}: {bad.Plan.Part}: {bad.Plan.Problem} Nothing was touched; see Get-PlatformRestorePlan -AsOf '{AsOf.UtcDateTime:u}'.");
        foreach (var w in parts.SelectMany(p => p.Plan.Warnings.Select(w => $"{p.Plan.Part}: {w}"))) WriteWarningAsync(w);

        // Every question first, before any part starts: a "no" to one part leaves every part untouched.
        var what = $"Restore the platform to {AsOf.UtcDateTime:u}: {string.Join("; ", parts.Select(p => $"{p.Plan.Part} ({p.Plan.Engine}) from {p.Plan.Reads} into {p.Plan.Destination}"))}";
        var (go, whatIf) = await AskAsync(ResolvedDestination ?? "the platform's live places", what);
        if (whatIf)
        {
            foreach (var p in parts)
                foreach (var step in p.Steps.DefaultIfEmpty(p.What)) await ShouldProcessAsync($"{p.Plan.Part} → {p.Plan.Destination}", step);
            return;
        }
        if (!go) return;
        foreach (var p in parts.Where(p => p.Plan.Replace))
        {
            if (!await ShouldProcessAsync(p.Plan.Destination ?? p.Plan.Part, $"Replace live data: {p.What}")) return;
            if (p.ReplaceQuestion is { } question && !Force && !await ShouldContinueAsync(question, "Replace live data")) return;
        }
        if (ResolvedDestination is not null) Directory.CreateDirectory(ResolvedDestination);

        var result = await RunPartsAsync(policy, AsOf.UtcDateTime, parts, ResolvedDestination, ValidationScript, drill: false);
        if (!result.Succeeded) WriteFailure(result, "The platform restore");
        WriteObjectAsync(result);
    }
}

/// <summary>
/// Test-Platform: a drill. Every part of the platform restored into scratch at a random point of the window every part
/// reaches (or -AsOf), validated, each part and the whole timed and recorded (the measured RTO Get-BackupStatus
/// shows), and the scratch removed. A drill that cannot start is recorded as failed too.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "Platform", DefaultParameterSetName = "Default")]
[OutputType(typeof(PlatformRestoreResult))]
public sealed class TestPlatformCommand : PlatformRunCmdlet
{
    /// <summary>The point to drill; a random point of the window every part reaches when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PointInTime")]
    public DateTimeOffset? AsOf { get; set; }

    /// <summary>How restored databases are checked (RowCount, or CheckTable: every index too).</summary>
    [Parameter]
    public RestoreValidation Validation { get; set; } = RestoreValidation.RowCount;

    /// <summary>Gets a hashtable of part → location in scratch once every part is back; must return $true.</summary>
    [Parameter]
    public ScriptBlock? ValidationScript { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var platform = policy.Platform
            ?? throw new ItemNotFoundException($"The policy {policy.Path} has no platform: section. Add one naming the parts restored together; see about_BackupTools_Platform.");
        var started = DateTime.UtcNow;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        DateTime? point = AsOf?.UtcDateTime;
        try
        {
            if (point is null)
            {
                if (PlatformWindow.Common(PlatformWindow.Parts(policy, started), out var problem) is not { } window)
                {
                    Finish(policy, PlatformDrill.CouldNotStart(policy, started, started, $"No point every part of the platform can be restored to: {problem}."));
                    return;
                }
                point = PlatformDrill.RandomPoint(window, Random.Shared);
            }
            await DrillAsync(policy, platform, point.Value, started, clock);
        }
        catch (Exception e) when (e is not (OperationCanceledException or PipelineStoppedException))
        {
            // Whatever stops a drill before it could restore (a scratch refused, an unreadable catalog) is recorded as a
            // failed drill: a weekly job that fails before it records anything would leave the status saying all is well.
            Finish(policy, PlatformDrill.CouldNotStart(policy, started, point ?? started, $"The drill could not run: {e.Message}"));
        }
    }

    private async Task DrillAsync(BackupPolicy policy, PlatformPolicy platform, DateTime asOf, DateTime started, System.Diagnostics.Stopwatch clock)
    {
        // A drill killed mid-way leaves its copy behind: the next drill removes it (retention sweeps <repository>/_scratch).
        if (platform.Scratch is { } parent) BackupTools.Engine.Repository.ScratchDirectory.SweepAbandoned(parent, started, TimeSpan.FromHours(1), WriteVerboseAsync);
        using var scratch = platform.Scratch is { } under
            ? BackupTools.Engine.Repository.ScratchDirectory.CreateUnder(under, "drill")
            : BackupTools.Engine.Repository.ScratchDirectory.Create(policy.Repository, "drill");
        var destination = System.IO.Path.Combine(scratch.Path, "platform");
        var parts = await PlatformPlanner.PrepareAsync(new PlatformRequest
        {
            Policy = policy, AsOf = asOf, Destination = destination, Validation = Validation, Drill = true,
            Secret = target => SecretResolver.Resolve(target, null),
        }, CancelToken);
        foreach (var w in parts.SelectMany(p => p.Plan.Warnings.Select(w => $"{p.Plan.Part}: {w}"))) WriteWarningAsync(w);
        if (parts.Any(p => p.Plan.Problem is not null))
        {
            Finish(policy, PlatformDrill.CouldNotStart(policy, started, asOf, null, parts.Select(p => p.Plan).ToList()));
            return;
        }
        Directory.CreateDirectory(destination);
        var result = await RunPartsAsync(policy, asOf, parts, destination, ValidationScript, drill: true);
        // The drill's time is the whole of it: planning, every part, the validation; the scratch's removal is not.
        Finish(policy, result with { Started = started, Duration = clock.Elapsed, Destination = null });
    }

    private void Finish(BackupPolicy policy, PlatformRestoreResult result)
    {
        try { DrillJournal.Append(policy.Repository, result); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteWarningAsync($"The drill could not be recorded in {System.IO.Path.Combine(policy.Repository, DrillJournal.DirectoryName)} ({e.Message}); Get-BackupStatus will not see it.");
        }
        if (!result.Succeeded) WriteFailure(result, "The platform drill");
        WriteObjectAsync(result);
    }
}
