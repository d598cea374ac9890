using BackupTools.Engine.Processes;

namespace BackupTools.Engine.Scheduling;

/// <summary>
/// How cron (bare environment, PATH=/usr/bin:/bin) starts the pwsh that is running now, however it was installed: a
/// pwsh binary (package, tarball, the dotnet global tool's shim) is started as itself; pwsh run as a .NET local tool
/// (<c>dotnet pwsh</c>) is the dotnet host with that pwsh.dll, since "dotnet -NoProfile …" is no command dotnet knows.
/// Before anything is registered, <see cref="ProbeAsync"/> runs one line exactly as cron would.
/// </summary>
public static class PwshLauncher
{
    /// <summary>Where packages, the tarball convention, snap and the dotnet global tool put a pwsh that keeps its path across upgrades.</summary>
    public static IReadOnlyList<string> StableCandidates() =>
        ["/usr/bin/pwsh", "/usr/local/bin/pwsh", "/snap/bin/pwsh", "/opt/microsoft/powershell/7/pwsh",
         Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "pwsh")];

    /// <param name="processPath">The running program (Environment.ProcessPath).</param>
    /// <param name="psHome">$PSHOME of the running pwsh (where pwsh.dll is).</param>
    public static IReadOnlyList<string> ForCurrentProcess(string? processPath, string psHome)
    {
        var name = Path.GetFileNameWithoutExtension(processPath ?? "");
        if (processPath is not null && name.Equals("pwsh", StringComparison.OrdinalIgnoreCase)) return [processPath];
        var dll = Path.Combine(psHome, "pwsh.dll");
        if (processPath is not null && name.Equals("dotnet", StringComparison.OrdinalIgnoreCase) && File.Exists(dll)) return [processPath, dll];
        if (StableCandidates().FirstOrDefault(File.Exists) is { } stable) return [stable];
        throw new ScheduleException(
            $"Cannot tell how cron would start PowerShell: this session runs in '{processPath}' with $PSHOME '{psHome}'. " +
            "Give the absolute path of a pwsh program with -PwshPath.");
    }

    /// <summary>
    /// Runs "Import-Module &lt;module&gt;" through the launcher under env -i and /bin/sh -c, as cron does, and throws
    /// with what it printed unless it worked: a schedule whose every job fails is worse than none.
    /// </summary>
    public static async Task ProbeAsync(IReadOnlyList<string> launcher, string modulePath, string home, string user, CancellationToken ct)
    {
        const string Ok = "backuptools-launcher-ok";
        var command = CronTable.Command(launcher, $"Import-Module \"{modulePath}\" -ErrorAction Stop; '{Ok}'") + " 2>&1";
        string output;
        try
        {
            output = await ProcessRunner.RunForTextAsync(new ProcessSpec("/usr/bin/env",
                ["-i", "PATH=/usr/bin:/bin", $"HOME={home}", $"LOGNAME={user}", "SHELL=/bin/sh", "/bin/sh", "-c", command]), ct);
        }
        catch (ToolFailedException e)
        {
            output = e.Message;
        }
        if (!output.Contains(Ok, StringComparison.Ordinal))
            throw new ScheduleException(
                $"A job started the way cron starts it (env -i, /bin/sh -c: {command}) could not load the module, so every job would fail " +
                $"and nothing was registered. It printed: {Tail(output)} Give a working pwsh with -PwshPath.");
    }

    private static string Tail(string text) => text.Length > 600 ? "…" + text[^600..] : text.Trim();
}
