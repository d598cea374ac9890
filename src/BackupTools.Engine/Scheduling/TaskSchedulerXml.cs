using System.Globalization;
using System.Security;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.Scheduling;

/// <summary>
/// A Windows Task Scheduler task (schema 1.2) for one job, registered as \BackupTools\&lt;policy id&gt;\&lt;job&gt; (each policy's
/// jobs in a folder of their own, so two policies on one host never replace each other's tasks; the description names
/// the policy and the target, as the cron marker does): runs whether the user
/// is logged on or not (LogonType Password), never starts a second instance while one runs (IgnoreNew), and stops
/// after 3 days (a continuous job: starts at boot, never stopped, restarted a minute after each failure). The cron expressions our schedules use are translated: daily at a time, weekly on days at a time,
/// and every N minutes or hours; anything else is refused with the expression named.
/// </summary>
public static partial class TaskSchedulerXml
{
    public const string Folder = @"\BackupTools\";

    /// <summary>The folder of one policy's tasks: \BackupTools\&lt;first 8 hex digits of the SHA-256 of its path&gt;\.</summary>
    public static string FolderFor(string policyPath) =>
        Folder + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(policyPath.ToLowerInvariant())))[..8] + @"\";

    [GeneratedRegex(@"^\*/(\d+)$")]
    private static partial Regex Every();

    public static string Build(ScheduledJob job, string pwshPath, string logDirectory, string account, string policyPath, DateTime? start = null)
    {
        var log = Path.Combine(logDirectory, job.Name + ".log");
        var arguments = job.Continuous
            ? ContinuousArguments(job.Script, pwshPath, log)
            : $"-NoProfile -NonInteractive -Command \"& {{ {job.Script.Replace("\"", "\\\"")} }} *>> '{log}'\"";
        return $"""
            <?xml version="1.0" encoding="UTF-16"?>
            <Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
              <RegistrationInfo>
                <Author>BackupTools</Author>
                <Description>{SecurityElement.Escape($"BackupTools job {job.Name}: {job.Schedule} (cron) target={job.Target ?? "-"} policy={policyPath}")}</Description>
                <URI>{SecurityElement.Escape(FolderFor(policyPath) + job.Name)}</URI>
              </RegistrationInfo>
              <Triggers>
            {(job.Continuous ? ContinuousTrigger : Trigger(job.Schedule, start ?? DateTime.Today))}
              </Triggers>
              <Principals>
                <Principal id="Author">
                  <UserId>{SecurityElement.Escape(account)}</UserId>
                  <LogonType>Password</LogonType>
                  <RunLevel>HighestAvailable</RunLevel>
                </Principal>
              </Principals>
              <Settings>
                <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
                <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
                <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
                <StartWhenAvailable>true</StartWhenAvailable>
                <ExecutionTimeLimit>{(job.Continuous ? "PT0S" : "P3D")}</ExecutionTimeLimit>{(job.Continuous ? ContinuousRestart : "")}
                <Enabled>true</Enabled>
              </Settings>
              <Actions Context="Author">
                <Exec>
                  <Command>{SecurityElement.Escape(pwshPath)}</Command>
                  <Arguments>{SecurityElement.Escape(arguments)}</Arguments>
                </Exec>
              </Actions>
            </Task>
            """;
    }

    // A continuous job (the binary-log stream): started at boot, never stopped for running long (PT0S), and started
    // again a minute after it fails, as often as it fails (Task Scheduler's restart count is at most 999).
    private const string ContinuousTrigger = "        <BootTrigger><Enabled>true</Enabled></BootTrigger>";

    private const string ContinuousRestart = "\n        <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>";

    /// <summary>
    /// A continuous job's command line: a pwsh that starts the job's own pwsh again 5 s after each exit. Task
    /// Scheduler restarts a task only when it fails to run, not when it exits with an error, so the loop is what keeps
    /// the stream running; the job's script goes as -EncodedCommand (UTF-16LE, base64), which needs no quoting.
    /// Ending the task ends the loop and the job with it.
    /// </summary>
    public static string ContinuousArguments(string script, string pwshPath, string log) =>
        $"-NoProfile -NonInteractive -Command \"while ($true) {{ & '{pwshPath}' -NoProfile -NonInteractive -EncodedCommand " +
        $"{Convert.ToBase64String(System.Text.Encoding.Unicode.GetBytes(script))} *>> '{log}'; Start-Sleep -Seconds 5 }}\"";

    private static string Trigger(string cron, DateTime day)
    {
        var f = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length != 5) throw Unsupported(cron);
        var (minute, hour, dom, month, dow) = (f[0], f[1], f[2], f[3], f[4]);
        if (dom != "*" || month != "*") throw Unsupported(cron);
        string Boundary(int h, int m) => day.Date.AddHours(h).AddMinutes(m).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        if (Every().Match(minute) is { Success: true } em && hour == "*" && dow == "*")
            return Repeating($"PT{em.Groups[1].Value}M", Boundary(0, 0));
        if (int.TryParse(minute, out var mm) && Every().Match(hour) is { Success: true } eh && dow == "*")
            return Repeating($"PT{eh.Groups[1].Value}H", Boundary(0, mm));
        if (int.TryParse(minute, out var m2) && hour == "*" && dow == "*")
            return Repeating("PT1H", Boundary(0, m2));
        if (int.TryParse(minute, out var m3) && int.TryParse(hour, out var h3))
        {
            if (dow == "*")
                return $"""
                        <CalendarTrigger>
                          <StartBoundary>{Boundary(h3, m3)}</StartBoundary>
                          <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
                        </CalendarTrigger>
                    """;
            var names = new[] { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
            var days = dow.Split(',').Select(d => int.TryParse(d, out var n) && n is >= 0 and <= 7 ? names[n % 7] : throw Unsupported(cron));
            return $"""
                        <CalendarTrigger>
                          <StartBoundary>{Boundary(h3, m3)}</StartBoundary>
                          <ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek>{string.Concat(days.Distinct().Select(d => $"<{d} />"))}</DaysOfWeek></ScheduleByWeek>
                        </CalendarTrigger>
                    """;
        }
        throw Unsupported(cron);
    }

    private static string Repeating(string interval, string start) => $"""
                <CalendarTrigger>
                  <StartBoundary>{start}</StartBoundary>
                  <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
                  <Repetition><Interval>{interval}</Interval><Duration>P1D</Duration><StopAtDurationEnd>false</StopAtDurationEnd></Repetition>
                </CalendarTrigger>
        """;

    private static ScheduleException Unsupported(string cron) =>
        new($"The schedule \"{cron}\" has no Task Scheduler equivalent here; use daily (\"M H * * *\"), weekly (\"M H * * D\"), every N minutes (\"*/N * * * *\") or every N hours (\"M */N * * *\").");
}
