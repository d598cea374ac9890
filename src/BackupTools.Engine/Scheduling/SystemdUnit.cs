using System.Text;
using System.Text.RegularExpressions;
using BackupTools.Engine.Processes;

namespace BackupTools.Engine.Scheduling;

/// <summary>
/// A job that runs continuously (the binary-log stream) as a systemd service, <c>backuptools-stream@&lt;target&gt;.service</c>
/// in /etc/systemd/system: started at boot, restarted 5 s after any exit (Restart=always, no start limit), stopped
/// with SIGTERM to the whole control group (the stream and its mariadb-binlog), its output appended to the job's log
/// under &lt;repository&gt;/_logs as cron jobs' is. It starts pwsh with the same launcher the cron lines use (proved
/// by running it as cron would), with no environment of the caller's: secrets come from files, as for cron jobs.
/// The first line marks whose unit it is, as the cron marker does.
/// </summary>
public static partial class SystemdUnit
{
    public const string Directory = "/etc/systemd/system";
    public const string Prefix = "backuptools-stream@";
    private const string Marker = "# backuptools:";

    public static string FileName(string target) => $"{Prefix}{target}.service";

    /// <summary>systemd is the running init (sd_booted): units can be enabled and started now.</summary>
    public static bool Running => System.IO.Directory.Exists("/run/systemd/system");

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex InstanceName();

    [GeneratedRegex(@"^# backuptools:(?<name>\S+) target=(?<target>\S+) policy=(?<policy>.+)$", RegexOptions.Multiline)]
    private static partial Regex MarkerLine();

    public static string Build(ScheduledJob job, IReadOnlyList<string> launcher, string logDirectory, string policyPath)
    {
        var target = job.Target ?? throw new ArgumentException("A service job belongs to a target.", nameof(job));
        if (!InstanceName().IsMatch(target))
            throw new ScheduleException($"The target name '{target}' cannot name a systemd unit (letters, digits, '_', '.' and '-' only); rename it in the policy to stream it as a service.");
        var exec = string.Join(' ', launcher.Concat(["-NoProfile", "-NonInteractive", "-Command", job.Script]).Select(Quote));
        return $"""
            {Marker}{job.Name} target={target} policy={policyPath}
            # Written by Register-BackupSchedule: streams {target}'s binary logs continuously. Edit the policy and register again, not this file.
            [Unit]
            Description=BackupTools binary-log stream of {target}
            Wants=network-online.target
            After=network-online.target
            StartLimitIntervalSec=0

            [Service]
            Type=simple
            ExecStart={exec}
            Environment=HOME=/root LOGNAME=root PATH=/usr/sbin:/usr/bin:/sbin:/bin
            Restart=always
            RestartSec=5
            KillMode=control-group
            KillSignal=SIGTERM
            TimeoutStopSec=30
            StandardOutput=append:{Path.Combine(logDirectory, job.Name + ".log")}
            StandardError=inherit

            [Install]
            WantedBy=multi-user.target

            """;
    }

    /// <summary>
    /// One ExecStart argument quoted for systemd: in double quotes with \ and " escaped, $ doubled (else an
    /// environment variable) and % doubled (else a specifier).
    /// </summary>
    public static string Quote(string argument)
    {
        var text = new StringBuilder("\"");
        foreach (var c in argument)
            text.Append(c switch
            {
                '\\' => "\\\\", '"' => "\\\"", '$' => "$$", '%' => "%%",
                // systemd ends a line at a newline, a carriage return or a NUL: a path holding one would split the unit.
                < ' ' or '\x7f' => throw new ScheduleException($"A service command cannot hold a control character (U+{(int)c:X4}); move the file to a plain path."),
                _ => c.ToString(),
            });
        return text.Append('"').ToString();
    }

    /// <summary>The command a unit runs, for display: its ExecStart words unquoted, or the line as it is when someone edited it otherwise.</summary>
    public static string Command(string unit)
    {
        var line = unit.Split('\n').FirstOrDefault(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))?["ExecStart=".Length..] ?? "(no ExecStart)";
        try { return string.Join(' ', ExecStart(line)); }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException) { return line; }
    }

    /// <summary>ExecStart's arguments as systemd hands them to the program (the reverse of <see cref="Quote"/>, for the unit's own quoting).</summary>
    private static IReadOnlyList<string> ExecStart(string line)
    {
        var args = new List<string>();
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == ' ') continue;
            if (line[i] != '"') throw new FormatException($"Unquoted ExecStart argument at {i}: {line}");
            var arg = new StringBuilder();
            for (i++; line[i] != '"'; i++)
            {
                if (line[i] == '\\') arg.Append(line[++i]);
                else if (line[i] is '$' or '%') arg.Append(line[i++]); // doubled
                else arg.Append(line[i]);
            }
            args.Add(arg.ToString());
        }
        return args;
    }

    /// <summary>Our units in a directory: file, job name, target and policy from the marker line.</summary>
    public static IReadOnlyList<(string Path, string Name, string Target, string Policy)> List(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) return [];
        var units = new List<(string, string, string, string)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, Prefix + "*.service").Order(StringComparer.Ordinal))
        {
            string head;
            using (var reader = new StreamReader(path)) head = reader.ReadLine() ?? "";
            if (MarkerLine().Match(head) is { Success: true } m)
                units.Add((path, m.Groups["name"].Value, m.Groups["target"].Value, m.Groups["policy"].Value.TrimEnd()));
        }
        return units;
    }

    /// <summary>Writes the unit atomically, mode 0644 (systemd reads it as root; it holds no secret).</summary>
    public static void Write(string path, string content) => CronTable.WriteFile(path, content);

    /// <summary>Removes a unit file of ours, by path only in a directory no one but root can change (as root).</summary>
    public static void Delete(string path)
    {
        Repository.SafeDirectory.RefuseUnlessOnlyRootWrites(Path.GetDirectoryName(Path.GetFullPath(path))!, $"to remove '{path}'");
        File.Delete(path);
    }

    /// <summary>Runs systemctl (daemon-reload, enable --now, restart, disable --now); throws with its output when it fails.</summary>
    public static Task SystemctlAsync(CancellationToken ct, params string[] arguments) =>
        ProcessRunner.RunForTextAsync(new ProcessSpec("systemctl", arguments), ct);
}
