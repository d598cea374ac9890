using System.Management.Automation;
using BackupTools.Engine.Scheduling;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Register-BackupSchedule: creates the cron jobs (Linux) or Task Scheduler tasks (Windows) that run the policy's
/// backups and the housekeeping, each piping into Send-BackupAlert and logging under &lt;repository&gt;/_logs.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "BackupSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Default")]
[OutputType(typeof(BackupScheduleEntry))]
public sealed class RegisterBackupScheduleCommand : PolicyCmdlet
{
    /// <summary>Only these targets' jobs (their lines are replaced, the rest kept); all targets plus housekeeping when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    public string[]? Target { get; set; }

    /// <summary>System (/etc/cron.d/backuptools, run as root; Windows: tasks) or User (your crontab).</summary>
    [Parameter]
    public ScheduleScope Scope { get; set; } = ScheduleScope.System;

    /// <summary>The pwsh the jobs run, as an absolute path (cron's PATH is minimal). Default: the pwsh running now.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PwshPath { get; set; }

    /// <summary>System scope: the cron file to write instead of /etc/cron.d/backuptools.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CronFile { get; set; }

    /// <summary>Register even when Test-BackupTarget -Readiness finds errors (they are still written as warnings).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Windows: the account the tasks run as, whether or not it is logged on.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Linux, System scope: where the binary-log stream services are written instead of /etc/systemd/system.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? UnitDirectory { get; set; }

    private readonly List<string> _targets = [];
    private string? _cronFile;
    private string _unitDirectory = SystemdUnit.Directory;
    private string _modulePath = "";

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        if (Target is not null) _targets.AddRange(Target);
        _cronFile = CronFile is null ? null : PolicyCmdlet.ResolvePath(this, CronFile);
        if (UnitDirectory is not null) _unitDirectory = PolicyCmdlet.ResolvePath(this, UnitDirectory)!;
        _modulePath = System.IO.Path.Combine(MyInvocation.MyCommand.Module?.ModuleBase ?? AppContext.BaseDirectory, "BackupTools.psd1");
        _psHome = SessionState.PSVariable.GetValue("PSHOME") as string ?? AppContext.BaseDirectory;
    }

    private string _psHome = "";

    protected override Task ProcessRecordAsync() => Task.CompletedTask; // targets from the pipeline are gathered

    protected override async Task EndProcessingAsync()
    {
        var policy = LoadPolicy();
        foreach (var t in _targets)
            if (policy.FindTarget(t) is null)
                throw new ItemNotFoundException($"The policy {policy.Path} has no target '{t}'. Its targets: {string.Join(", ", policy.Targets.Select(x => x.Name))}.");
        var jobs = ScheduleBuilder.Build(policy, _modulePath, _targets.Count > 0 ? _targets : null);
        if (PwshPath is not null && !System.IO.Path.IsPathFullyQualified(PwshPath))
            throw new ArgumentException($"-PwshPath '{PwshPath}' must be an absolute path: cron and Task Scheduler do not search PATH.");
        if (PwshPath is not null) ScheduleBuilder.CheckPassable("-PwshPath", PwshPath);
        var logs = CronTable.LogDirectory(policy.Repository);
        if (OperatingSystem.IsWindows())
        {
            await RegisterTasksAsync(jobs, PwshPath ?? Environment.ProcessPath ?? "pwsh.exe", logs, policy);
            return;
        }
        var location = ScheduleStore.Location(Scope, _cronFile);
        var user = Scope == ScheduleScope.System ? "root" : null;
        var confirmed = new List<ScheduledJob>();
        var services = new List<ScheduledJob>();
        foreach (var job in jobs)
        {
            if (job.Continuous)
            {
                if (Scope != ScheduleScope.System)
                    WriteWarningAsync($"{job.Name} runs as a system service (backuptools-stream@{job.Target}.service); register it with -Scope System as root.");
                else if (await ShouldProcessAsync(Path.Combine(_unitDirectory, SystemdUnit.FileName(job.Target!)), $"Install and start the service {job.Name}: {job.Pipeline}"))
                    services.Add(job);
            }
            else if (await ShouldProcessAsync(location, $"Schedule {job.Name}: \"{job.Schedule}\" {job.Pipeline}"))
                confirmed.Add(job);
        }
        if (confirmed.Count == 0 && services.Count == 0) return;
        await CheckReadinessAsync(policy);
        // How cron starts pwsh, proved by running one line exactly as cron would before anything is written.
        var launcher = await ChooseLauncherAsync(user is null ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) : "/root", user ?? Environment.UserName);
        var lines = confirmed.Select(job => CronTable.Line(job, launcher, logs, user, policy.Path)).ToList();
        CronTable.EnsureLogDirectory(policy.Repository);
        if (Scope == ScheduleScope.System) await InstallServicesAsync(policy, services, jobs, launcher, logs);
        var existing = await ScheduleStore.ReadAsync(Scope, _cronFile, CancelToken);
        var replaced = confirmed.Select(j => j.Name).ToHashSet();
        var current = jobs.Select(j => j.Name).ToHashSet();
        // This policy's lines (all of them, or those of the named targets) are replaced; another policy's never. A job
        // declined at -Confirm keeps its line; a line of a job the policy no longer has goes. Lines of older versions
        // carry no owner: those with one of our job names are ours.
        var merged = CronTable.Merge(existing, lines, e => e.Policy is null
            ? replaced.Contains(e.Name)
            : e.BelongsTo(policy.Path, _targets.Count > 0 ? _targets : null) && (replaced.Contains(e.Name) || !current.Contains(e.Name)));
        await ScheduleStore.WriteAsync(Scope, _cronFile, merged, CancelToken);
        if (jobs.Any(j => j.Name == "status-alerts"))
            await File.WriteAllTextAsync(ScheduleBuilder.AlertTestPending(policy.Repository), DateTime.UtcNow.ToString("o"), CancelToken);
        foreach (var e in CronTable.Read(merged, Scope == ScheduleScope.System, DateTime.UtcNow).Where(e => e.Policy == policy.Path && replaced.Contains(e.Name)))
            WriteObjectAsync(ScheduleStore.ToEntryWithOwner(e, Scope, location));
        foreach (var job in services)
            WriteObjectAsync(ScheduleStore.ToServiceEntry(job.Name, job.Target!, policy.Path, job.Pipeline, Path.Combine(_unitDirectory, SystemdUnit.FileName(job.Target!))));
    }

    /// <summary>
    /// Writes each stream service and starts it (or restarts it when its unit changed); removes this policy's stream
    /// services whose target no longer streams. Where systemd is not the running init (a container), the units are
    /// written and a warning says how to start them.
    /// </summary>
    private async Task InstallServicesAsync(BackupPolicy policy, IReadOnlyList<ScheduledJob> services, IReadOnlyList<ScheduledJob> jobs, IReadOnlyList<string> launcher, string logs)
    {
        var changed = new List<string>();
        foreach (var job in services)
        {
            var path = Path.Combine(_unitDirectory, SystemdUnit.FileName(job.Target!));
            var unit = SystemdUnit.Build(job, launcher, logs, policy.Path);
            if (File.Exists(path) && await File.ReadAllTextAsync(path, CancelToken) == unit) continue;
            SystemdUnit.Write(path, unit);
            changed.Add(Path.GetFileName(path));
        }
        var current = jobs.Where(j => j.Continuous).Select(j => j.Name).ToHashSet();
        var gone = SystemdUnit.List(_unitDirectory).Where(u => u.Policy == policy.Path && !current.Contains(u.Name)
                                                               && (_targets.Count == 0 || _targets.Contains(u.Target, StringComparer.OrdinalIgnoreCase))).ToList();
        foreach (var u in gone)
        {
            if (!await ShouldProcessAsync(u.Path, $"Stop and remove the service {u.Name} (its target no longer has stream: in the policy)")) continue;
            if (SystemdUnit.Running && Path.GetDirectoryName(u.Path) == SystemdUnit.Directory) await SystemdUnit.SystemctlAsync(CancelToken, "disable", "--now", Path.GetFileName(u.Path));
            SystemdUnit.Delete(u.Path);
        }
        var names = services.Select(j => SystemdUnit.FileName(j.Target!)).ToList();
        if (names.Count == 0 && gone.Count == 0) return;
        if (!SystemdUnit.Running || _unitDirectory != SystemdUnit.Directory)
        {
            if (names.Count > 0)
                WriteWarningAsync($"The stream service(s) {string.Join(", ", names)} were written to {_unitDirectory} but not started: " +
                                  (_unitDirectory != SystemdUnit.Directory ? "it is not /etc/systemd/system. " : "systemd is not the running init here. ") +
                                  $"Start them with: systemctl daemon-reload; systemctl enable --now {string.Join(' ', names)}");
            return;
        }
        await SystemdUnit.SystemctlAsync(CancelToken, "daemon-reload");
        foreach (var name in names)
        {
            await SystemdUnit.SystemctlAsync(CancelToken, "enable", "--now", name);
            if (changed.Contains(name)) await SystemdUnit.SystemctlAsync(CancelToken, "restart", name); // a changed unit runs its new command
        }
    }

    /// <summary>
    /// The launcher cron uses: -PwshPath as given; else a pwsh at a stable path (/usr/bin/pwsh … survives upgrades),
    /// when it loads the module, else the pwsh running now. Each candidate is run as cron runs it; the first that works wins.
    /// </summary>
    private async Task<IReadOnlyList<string>> ChooseLauncherAsync(string home, string user)
    {
        if (PwshPath is not null)
        {
            await PwshLauncher.ProbeAsync([PwshPath], _modulePath, home, user, CancelToken);
            return [PwshPath];
        }
        var current = PwshLauncher.ForCurrentProcess(Environment.ProcessPath, _psHome);
        ScheduleException? last = null;
        foreach (var candidate in PwshLauncher.StableCandidates().Where(File.Exists).Select(p => (IReadOnlyList<string>)[p]).Append(current))
        {
            try
            {
                await PwshLauncher.ProbeAsync(candidate, _modulePath, home, user, CancelToken);
                if (candidate != current) WriteVerboseAsync($"Jobs start {candidate[0]} (a stable path that survives PowerShell upgrades).");
                else if (candidate.Count > 1 || !PwshLauncher.StableCandidates().Contains(candidate[0]))
                    WriteWarningAsync($"Jobs start PowerShell as this session runs it: {string.Join(' ', candidate)}. That path is versioned: after upgrading or " +
                                      "removing that PowerShell, run Register-BackupSchedule again (or give -PwshPath a stable pwsh).");
                return candidate;
            }
            catch (ScheduleException e) { last = e; }
        }
        throw last!;
    }

    /// <summary>
    /// Readiness of the targets being scheduled, before anything is written: a schedule whose first run is bound to
    /// fail (binlog_format=STATEMENT, a missing privilege, logs that expire before they are archived) is refused unless -Force.
    /// </summary>
    private async Task CheckReadinessAsync(BackupPolicy policy)
    {
        var errors = new List<ReadinessFinding>();
        foreach (var target in policy.Targets.Where(t => _targets.Count == 0 || _targets.Contains(t.Name, StringComparer.OrdinalIgnoreCase)))
        {
            string? password;
            try { password = SecretResolver.Resolve(target, null); }
            catch (SecretUnavailableException e)
            {
                errors.Add(new ReadinessFinding { Target = target.Name, Check = "password", Level = ReadinessLevel.Error, Detail = e.Message });
                continue;
            }
            errors.AddRange((await ReadinessCheck.RunAsync(target, password, policy.Repository, TimeSpan.FromSeconds(5), CancelToken)).Where(f => f.Level == ReadinessLevel.Error));
        }
        errors.AddRange(CronEnvironmentProblems(policy));
        if (policy.Alerts.Channels.Count == 0 || policy.Alerts.CriticalRoute.Count == 0)
            errors.Add(new ReadinessFinding
            {
                Target = "(alerts)", Check = "alert channels", Level = ReadinessLevel.Error,
                Detail = "no alert channel receives Critical alerts, so a failed scheduled backup would reach nobody",
                Fix = "Add alerts.channels (slack, email, sms, phone or webhook) and alerts.routes; Send-BackupAlert -Test proves them.",
            });
        if (errors.Count == 0) return;
        var text = string.Join(Environment.NewLine, errors.Select(f => $"  {f.Target} {f.Check}: {f.Detail}" + (f.Fix is null ? "" : $" Fix: {f.Fix}")));
        if (Force)
        {
            WriteWarningAsync($"Registering despite readiness errors (-Force):{Environment.NewLine}{text}");
            return;
        }
        throw new ScheduleException($"Nothing was registered: the first runs would fail. Fix these (Test-BackupTarget -Readiness shows every check), or give -Force:{Environment.NewLine}{text}");
    }

    /// <summary>cron and Task Scheduler start jobs with no environment of yours: a secret named by …Env would be empty in every job.</summary>
    private static IEnumerable<ReadinessFinding> CronEnvironmentProblems(BackupPolicy policy)
    {
        ReadinessFinding Problem(string where, string source) => new()
        {
            Target = where, Check = "secret from the environment", Level = ReadinessLevel.Error,
            Detail = $"the secret comes from the environment variable {source[4..]}, which scheduled jobs do not have",
            Fix = "Use the …File form (a 0600 file, e.g. passwordFile: /etc/backuptools/db.password) instead of …Env.",
        };
        foreach (var (where, source) in BackupTools.Engine.Policy.PolicySecrets.Sources(policy))
            if (source.StartsWith("env:", StringComparison.Ordinal)) yield return Problem(where, source);
    }

    private async Task RegisterTasksAsync(IReadOnlyList<ScheduledJob> jobs, string pwsh, string logs, BackupPolicy policy)
    {
        var policyPath = policy.Path;
        var account = Credential?.UserName ?? Environment.UserName;
        var checkedOnce = false;
        foreach (var job in jobs)
        {
            var xml = TaskSchedulerXml.Build(job, pwsh, logs, account, policyPath);
            var folder = TaskSchedulerXml.FolderFor(policyPath);
            // ShouldProcess decides (a what-if registers nothing); only before the first real registration are the
            // readiness and the credential checked.
            if (!await ShouldProcessAsync(folder + job.Name, $"Register task \"{job.Schedule}\" {job.Pipeline}")) continue;
            if (!checkedOnce)
            {
                if (Credential is null)
                    throw new ArgumentException("On Windows the tasks run whether or not the account is logged on, which needs its password: give -Credential.");
                await CheckReadinessAsync(policy);
                checkedOnce = true;
            }
            // Through the ScheduledTasks module (inbox on Windows): the password goes to Task Scheduler in-process,
            // never on a command line as schtasks.exe /RP would put it.
            var password = Credential!.GetNetworkCredential().Password;
            await InvokeOnPipelineAsync(() => InvokeCommand.InvokeScript(
                "param($name, $xml, $user, $password, $folder) Import-Module ScheduledTasks -ErrorAction Stop; " +
                "Register-ScheduledTask -TaskPath $folder -TaskName $name -Xml $xml -User $user -Password $password -Force | Out-Null; " +
                // A continuous job (the stream) starts now, not at the next boot.
                (job.Continuous ? "Start-ScheduledTask -TaskPath $folder -TaskName $name" : ""),
                false, System.Management.Automation.Runspaces.PipelineResultTypes.None, null, job.Name, xml, account, password, folder));
            WriteObjectAsync(new BackupScheduleEntry
            {
                Name = job.Name, Target = job.Target, Policy = policyPath, Schedule = job.Schedule, Command = job.Script, Scope = ScheduleScope.System,
                Location = folder + job.Name,
            });
        }
    }

}

/// <summary>What Get- and Unregister-BackupSchedule share: where our lines are, whose lines to pick, and reading them.</summary>
public abstract class ScheduleTableCmdlet : AsyncPSCmdlet
{
    /// <summary>Only the jobs of these targets (as their lines record it, never by job name); all when omitted.</summary>
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    public string[]? Target { get; set; }

    /// <summary>System (/etc/cron.d/backuptools) or User (your crontab).</summary>
    [Parameter]
    public ScheduleScope Scope { get; set; } = ScheduleScope.System;

    /// <summary>System scope: the cron file to use instead of /etc/cron.d/backuptools.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CronFile { get; set; }

    /// <summary>Only the jobs registered for this policy file; every policy's when omitted.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Policy { get; set; }

    /// <summary>Linux, System scope: where the binary-log stream services are, instead of /etc/systemd/system.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? UnitDirectory { get; set; }

    protected string? ResolvedCronFile { get; private set; }
    protected string ResolvedUnitDirectory { get; private set; } = SystemdUnit.Directory;
    private string? _policy;

    protected override void PrepareRecord()
    {
        ResolvedCronFile = CronFile is null ? null : PolicyCmdlet.ResolvePath(this, CronFile);
        if (UnitDirectory is not null) ResolvedUnitDirectory = PolicyCmdlet.ResolvePath(this, UnitDirectory)!;
        _policy = Policy is null ? null : PolicyCmdlet.ResolvePath(this, Policy);
    }

    /// <summary>Our stream services (System scope only) that -Target and -Policy pick.</summary>
    protected IReadOnlyList<(string Path, string Name, string Target, string Policy)> PickedServices() =>
        Scope != ScheduleScope.System ? [] :
        SystemdUnit.List(ResolvedUnitDirectory).Where(u => (_policy is null || u.Policy == _policy)
                                                           && (Target is null || Target.Contains(u.Target, StringComparer.OrdinalIgnoreCase))).ToList();

    protected BackupScheduleEntry ServiceEntry((string Path, string Name, string Target, string Policy) u) =>
        ScheduleStore.ToServiceEntry(u.Name, u.Target, u.Policy, SystemdUnit.Command(File.ReadAllText(u.Path)), u.Path);

    /// <summary>The whole table, where it is, and our lines in it that -Target and -Policy pick.</summary>
    protected async Task<(string Table, string Location, IReadOnlyList<CronEntry> Picked)> ReadPickedAsync()
    {
        ScheduleStore.RequireCron();
        var table = await ScheduleStore.ReadAsync(Scope, ResolvedCronFile, CancelToken);
        var picked = CronTable.Read(table, Scope == ScheduleScope.System, DateTime.UtcNow).Where(e => e.BelongsTo(_policy, Target)).ToList();
        return (table, ScheduleStore.Location(Scope, ResolvedCronFile), picked);
    }
}

/// <summary>Get-BackupSchedule: the jobs Register-BackupSchedule created, with their next run.</summary>
[Cmdlet(VerbsCommon.Get, "BackupSchedule", DefaultParameterSetName = "Default")]
[OutputType(typeof(BackupScheduleEntry))]
public sealed class GetBackupScheduleCommand : ScheduleTableCmdlet
{
    protected override async Task ProcessRecordAsync()
    {
        var (_, location, picked) = await ReadPickedAsync();
        foreach (var e in picked) WriteObjectAsync(ScheduleStore.ToEntryWithOwner(e, Scope, location));
        foreach (var u in PickedServices()) WriteObjectAsync(ServiceEntry(u));
    }
}

/// <summary>Unregister-BackupSchedule: removes our jobs (or one target's, or one policy's), and no other line.</summary>
[Cmdlet(VerbsLifecycle.Unregister, "BackupSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Default")]
[OutputType(typeof(BackupScheduleEntry))]
public sealed class UnregisterBackupScheduleCommand : ScheduleTableCmdlet
{
    protected override async Task ProcessRecordAsync()
    {
        var (table, location, picked) = await ReadPickedAsync();
        var removed = new List<CronEntry>();
        foreach (var e in picked)
            if (await ShouldProcessAsync(location, $"Remove the job {e.Name} (\"{e.Schedule}\")" + (e.Policy is null ? "" : $" of {e.Policy}")))
            {
                removed.Add(e);
                WriteObjectAsync(ScheduleStore.ToEntryWithOwner(e, Scope, location));
            }
        foreach (var u in PickedServices())
        {
            if (!await ShouldProcessAsync(u.Path, $"Stop and remove the service {u.Name}" + $" of {u.Policy}")) continue;
            var entry = ServiceEntry(u);
            if (SystemdUnit.Running && Path.GetDirectoryName(u.Path) == SystemdUnit.Directory) await SystemdUnit.SystemctlAsync(CancelToken, "disable", "--now", Path.GetFileName(u.Path));
            SystemdUnit.Delete(u.Path);
            WriteObjectAsync(entry);
        }
        if (removed.Count == 0) return;
        await ScheduleStore.WriteAsync(Scope, ResolvedCronFile, CronTable.Merge(table, [], e => removed.Any(r => r.Name == e.Name && r.Policy == e.Policy)), CancelToken);
    }
}
