using System.Text.RegularExpressions;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using Cronos;

namespace BackupTools.Engine.Scheduling;

/// <summary>One of our lines in a cron table, read back.</summary>
public sealed record CronEntry(string Name, string Schedule, string Command, DateTime? NextRun);

/// <summary>
/// Our lines in /etc/cron.d/backuptools (with a user field) or a user's crontab (without). Each line of ours ends with
/// "# backuptools:&lt;job&gt;"; registering again replaces exactly those lines and keeps every other line as it was.
/// cron's PATH is minimal and '%' means a newline to it, so commands use absolute paths and are single-quoted for
/// /bin/sh, with no '%' in them.
/// </summary>
public static partial class CronTable
{
    public const string Marker = "# backuptools:";
    public const string SystemFile = "/etc/cron.d/backuptools";

    [GeneratedRegex(@"^\s*(?<cron>(\S+\s+){5})(?<user>\S+\s+)?(?<command>.*?)\s+# backuptools:(?<name>\S+)\s*$")]
    private static partial Regex OurLine();

    public static string Line(ScheduledJob job, string pwshPath, string logDirectory, string? user) =>
        $"{job.Schedule} {(user is null ? "" : user + " ")}{pwshPath} -NoProfile -NonInteractive -Command {ShellQuote(job.Script)} " +
        $">> {ShellQuote(Path.Combine(logDirectory, job.Name + ".log"))} 2>&1 {Marker}{job.Name}";

    public static string ShellQuote(string text) => "'" + text.Replace("'", "'\\''") + "'";

    /// <summary>The table with our lines for <paramref name="jobNames"/> (or all of ours when null) replaced by <paramref name="newLines"/>.</summary>
    public static string Merge(string existing, IEnumerable<string> newLines, Func<string, bool> isReplaced)
    {
        var kept = existing.Replace("\r\n", "\n").Split('\n').Where(l => l.Length > 0)
            .Where(l => !(OurLine().Match(l) is { Success: true } m && isReplaced(m.Groups["name"].Value)));
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
            result.Add(new CronEntry(m.Groups["name"].Value, cron, command.Trim(), next));
        }
        return result;
    }

    /// <summary>Writes a cron.d file the way cron accepts it: a name without dots, mode 0644, owner root, atomically.</summary>
    public static void WriteSystemFile(string path, string content)
    {
        if (Path.GetFileName(path).Contains('.'))
            throw new ScheduleException($"cron ignores files in /etc/cron.d whose names contain a dot; '{Path.GetFileName(path)}' would never run.");
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
