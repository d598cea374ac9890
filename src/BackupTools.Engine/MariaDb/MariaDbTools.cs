using System.Globalization;
using System.Text.RegularExpressions;
using BackupTools.Engine.Processes;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Backup and restore need the tools of the server release that made the data (mariabackup can only back up, prepare
/// and copy back its own release's InnoDB files, and a restore's throwaway mariadbd must read them). A target's
/// <c>toolsDir</c> names where that release's mariabackup, mbstream, mariadbd, mariadb and mariadb-binlog are (a
/// MariaDB tarball's bin/, say); without it they come from PATH.
/// </summary>
public sealed partial class MariaDbTools(string? directory)
{
    public static readonly MariaDbTools FromPath = new(null);

    public string? Directory { get; } = directory;

    /// <summary>The program to start for a tool: in toolsDir when given (mariadbd may sit in sbin beside it), else its name.</summary>
    public string Program(string tool)
    {
        if (Directory is null) return tool;
        foreach (var candidate in new[] { Path.Combine(Directory, tool), Path.Combine(Directory, "..", "sbin", tool) })
            if (File.Exists(candidate)) return Path.GetFullPath(candidate);
        throw new ToolNotFoundException(Path.Combine(Directory, tool), null);
    }

    [GeneratedRegex(@"(\d+)\.(\d+)\.(\d+)(?=-MariaDB|\b)")]
    private static partial Regex VersionPattern();

    /// <summary>Major.minor of a version text ("10.11.6-MariaDB-log", "5.5.5-11.8.3-MariaDB"), or null.</summary>
    public static string? Release(string? version)
    {
        if (version is null) return null;
        if (version.StartsWith("5.5.5-", StringComparison.Ordinal)) version = version[6..]; // the old protocol's prefix
        var m = VersionPattern().Match(version);
        return m.Success ? $"{m.Groups[1].Value}.{m.Groups[2].Value}" : null;
    }

    /// <summary>The release of this set's mariabackup ("10.11"), read from its --version.</summary>
    public async Task<(string Release, string Text)> MariaBackupReleaseAsync(CancellationToken ct)
    {
        // It prints its version on stderr.
        var result = await ProcessRunner.RunAsync(new ProcessSpec(Program("mariabackup"), ["--version"]), null, ct);
        var text = result.StderrTail.Trim();
        if (result.ExitCode != 0) throw new ToolFailedException(Program("mariabackup"), result.ExitCode, text);
        return (Release(text.Contains("based on MariaDB server", StringComparison.Ordinal) ? text[text.IndexOf("based on", StringComparison.Ordinal)..] : text)
                ?? throw new InvalidDataException($"Cannot read a MariaDB release from '{Program("mariabackup")} --version': {text}"), text);
    }

    /// <summary>
    /// Refuses, before anything is touched, a mariabackup of another release than the one that made the backup (or
    /// runs the server): it would fail mid-way or, worse, misread the InnoDB files.
    /// </summary>
    public async Task RequireReleaseAsync(string? serverVersion, string what, CancellationToken ct)
    {
        if (Release(serverVersion) is not { } wanted) return;
        var (have, text) = await MariaBackupReleaseAsync(ct);
        if (have != wanted)
            throw new MariaDbReleaseMismatchException(
                $"{what} needs the mariabackup of MariaDB {wanted} (the server's release is {serverVersion}), but " +
                $"'{Program("mariabackup")}' is {have} ({text}). mariabackup must match the server that made the backup: " +
                $"install MariaDB {wanted}'s mariabackup, or set toolsDir on the target to the directory that holds it. Nothing was touched.");
    }

    /// <summary>
    /// A restore also needs the release's mariadbd (the throwaway server that replays the binary logs): checked with
    /// mariabackup, before anything is touched.
    /// </summary>
    public async Task RequireRestoreReleaseAsync(string? serverVersion, string what, CancellationToken ct)
    {
        await RequireReleaseAsync(serverVersion, what, ct);
        if (Release(serverVersion) is not { } wanted) return;
        var text = (await ProcessRunner.RunForTextAsync(new ProcessSpec(Program("mariadbd"), ["--no-defaults", "--version"]), ct)).Trim();
        if (Release(text) is { } have && have != wanted)
            throw new MariaDbReleaseMismatchException(
                $"{what} needs the mariadbd of MariaDB {wanted} (the backup's release, {serverVersion}) to replay the binary logs, but " +
                $"'{Program("mariadbd")}' is {have}. Install MariaDB {wanted}, or set toolsDir on the target to the directory that holds its tools. Nothing was touched.");
    }

    public override string ToString() => Directory ?? "PATH";
}

/// <summary>The MariaDB tools found are of another release than the data they would work on.</summary>
public sealed class MariaDbReleaseMismatchException(string message) : Exception(message);
