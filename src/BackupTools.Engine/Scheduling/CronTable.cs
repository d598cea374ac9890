using System.Text.RegularExpressions;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using Cronos;

namespace BackupTools.Engine.Scheduling;

/// <summary>One of our lines in a cron table, read back: its job, and the policy and target it belongs to (null on lines of older versions).</summary>
public sealed record CronEntry(string Name, string Schedule, string Command, DateTime? NextRun, string? Target = null, string? Policy = null)
{
    /// <summary>
    /// Whether this line is one of <paramref name="policy"/>'s (any policy's when null) and, with
    /// <paramref name="targets"/>, one of those targets' jobs. Ownership comes from the marker, never from the job's
    /// name: "db-replica-full" is not a job of target "db", and "status-alerts" is nobody's target's.
    /// </summary>
    public bool BelongsTo(string? policy, IReadOnlyCollection<string>? targets) =>
        (policy is null || Policy is null || string.Equals(Policy, policy, StringComparison.Ordinal))
        && (targets is null || Target is not null && targets.Contains(Target, StringComparer.OrdinalIgnoreCase));
}

/// <summary>
/// Our lines in /etc/cron.d/backuptools (with a user field) or a user's crontab (without). Each line of ours ends with
/// "# backuptools:&lt;job&gt; target=&lt;target or -&gt; policy=&lt;policy path&gt;": the marker says whose job it is, so
/// registering again replaces exactly that policy's (or that target's) lines and keeps every other line as it was,
/// including another policy's jobs of the same name.
/// cron's PATH is minimal and '%' means a newline to it, so commands use absolute paths and are single-quoted for
/// /bin/sh, with no '%' in them.
/// </summary>
public static partial class CronTable
{
    public const string Marker = "# backuptools:";
    public const string SystemFile = "/etc/cron.d/backuptools";

    [GeneratedRegex(@"^\s*(?<cron>(\S+\s+){5})(?<user>\S+\s+)?(?<command>.*?)\s+# backuptools:(?<name>\S+)(\s+target=(?<target>\S+))?(\s+policy=(?<policy>.+?))?\s*$")]
    private static partial Regex OurLine();

    /// <param name="launcher">The program and its first arguments that start pwsh (see <see cref="PwshLauncher"/>), already absolute.</param>
    public static string Line(ScheduledJob job, IReadOnlyList<string> launcher, string logDirectory, string? user, string policyPath) =>
        $"{job.Schedule} {(user is null ? "" : user + " ")}{Command(launcher, job.Script)} " +
        $">> {ShellQuote(Path.Combine(logDirectory, job.Name + ".log"))} 2>&1 {Marker}{job.Name} target={job.Target ?? "-"} policy={policyPath}";

    /// <summary>The shell command that runs <paramref name="script"/> in pwsh through the launcher.</summary>
    public static string Command(IReadOnlyList<string> launcher, string script) =>
        $"{string.Join(' ', launcher.Select(ShellQuote))} -NoProfile -NonInteractive -Command {ShellQuote(script)}";

    public static string ShellQuote(string text) => "'" + text.Replace("'", "'\\''") + "'";

    /// <summary>The table without our lines that <paramref name="isReplaced"/> picks, plus <paramref name="newLines"/>; every other line as it was.</summary>
    public static string Merge(string existing, IEnumerable<string> newLines, Func<CronEntry, bool> isReplaced)
    {
        var kept = existing.Replace("\r\n", "\n").Split('\n').Where(l => l.Length > 0)
            .Where(l => Read(l, hasUserField: true, DateTime.UtcNow) is not [var e] || !isReplaced(e));
        var lines = kept.Concat(newLines).ToList();
        return lines.Count == 0 ? "" : string.Join('\n', lines) + "\n"; // cron ignores a last line without a newline
    }

    public static IReadOnlyList<CronEntry> Read(string table, bool hasUserField, DateTime now)
    {
        var result = new List<CronEntry>();
        foreach (var line in table.Split('\n'))
        {
            var m = OurLine().Match(line);
            if (!m.Success) continue;
            var cron = m.Groups["cron"].Value.Trim();
            var command = (hasUserField ? "" : m.Groups["user"].Value) + m.Groups["command"].Value;
            DateTime? next = null;
            try { next = CronExpression.Parse(cron).GetNextOccurrence(now, TimeZoneInfo.Local)?.ToLocalTime(); }
            catch (CronFormatException) { }
            var target = m.Groups["target"].Success && m.Groups["target"].Value != "-" ? m.Groups["target"].Value : null;
            result.Add(new CronEntry(m.Groups["name"].Value, cron, command.Trim(), next, target, m.Groups["policy"].Success ? m.Groups["policy"].Value : null));
        }
        return result;
    }

    /// <summary>Writes a cron.d file the way cron accepts it: a name without dots, mode 0644, owner root, atomically.</summary>
    public static void WriteSystemFile(string path, string content)
    {
        if (Path.GetFileName(path).Contains('.'))
            throw new ScheduleException($"cron ignores files in /etc/cron.d whose names contain a dot; '{Path.GetFileName(path)}' would never run.");
        WriteFile(path, content);
    }

    /// <summary>Writes a file root's daemons read (cron.d, systemd units): mode 0644, atomically (a temporary name beside it, renamed over).</summary>
    internal static void WriteFile(string path, string content)
    {
        // The file is renamed into place by path: only in a directory no one but root can change (as root).
        SafeDirectory.RefuseUnlessOnlyRootWrites(Path.GetDirectoryName(Path.GetFullPath(path))!, $"to write '{path}'");
        var temp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".tmp");
        File.WriteAllText(temp, content);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The invoking user's crontab ("" when there is none).</summary>
    public static async Task<string> ReadUserTableAsync(CancellationToken ct)
    {
        try { return await ProcessRunner.RunForTextAsync(new ProcessSpec("crontab", ["-l"]), ct); }
        catch (ToolFailedException) { return ""; } // "no crontab for <user>"
    }

    public static async Task WriteUserTableAsync(string content, CancellationToken ct)
    {
        using var input = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
        await ProcessRunner.RunForTextAsync(new ProcessSpec("crontab", ["-"]) { StandardInput = input }, ct);
    }

    public static string LogDirectory(string repositoryRoot) => Path.Combine(repositoryRoot, "_logs");

    public static void EnsureLogDirectory(string repositoryRoot) => FileModes.CreatePrivateDirectory(LogDirectory(repositoryRoot));
}
