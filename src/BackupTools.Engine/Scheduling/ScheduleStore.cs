using BackupTools.Model;

namespace BackupTools.Engine.Scheduling;

/// <summary>What the three schedule cmdlets share: where our jobs live and how to read and write them.</summary>
public static class ScheduleStore
{
    public static string Location(ScheduleScope scope, string? cronFile) => scope == ScheduleScope.User ? "crontab" : cronFile ?? CronTable.SystemFile;

    public static async Task<string> ReadAsync(ScheduleScope scope, string? cronFile, CancellationToken ct) =>
        scope == ScheduleScope.User ? await CronTable.ReadUserTableAsync(ct)
        : File.Exists(cronFile ?? CronTable.SystemFile) ? await File.ReadAllTextAsync(cronFile ?? CronTable.SystemFile, ct) : "";

    public static async Task WriteAsync(ScheduleScope scope, string? cronFile, string content, CancellationToken ct)
    {
        if (scope == ScheduleScope.User) await CronTable.WriteUserTableAsync(content, ct);
        else CronTable.WriteSystemFile(cronFile ?? CronTable.SystemFile, content);
    }

    public static BackupScheduleEntry ToEntry(CronEntry e, ScheduleScope scope, string location) => new()
    {
        Name = e.Name, Schedule = e.Schedule, Command = e.Command, NextRun = e.NextRun, Scope = scope, Location = location,
    };

    public static BackupScheduleEntry ToEntryWithOwner(CronEntry e, ScheduleScope scope, string location) =>
        ToEntry(e, scope, location) with { Target = e.Target, Policy = e.Policy };

    /// <summary>A continuous job (a stream service): no schedule, no next run; the unit file is where it lives.</summary>
    public static BackupScheduleEntry ToServiceEntry(string name, string target, string policy, string command, string unitPath) => new()
    {
        Name = name, Target = target, Policy = policy, Schedule = ScheduleBuilder.ContinuousSchedule, Command = command, NextRun = null,
        Scope = ScheduleScope.System, Location = unitPath,
    };

    public static void RequireCron()
    {
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("On Windows, jobs are Task Scheduler tasks in \\BackupTools\\: use Register-BackupSchedule -Credential, and Get-ScheduledTask -TaskPath \\BackupTools\\ to list them.");
    }
}
