namespace BackupTools.Engine.MariaDb;

/// <summary>mariabackup ended badly: a non-zero exit, or no <c>completed OK!</c> line. Carries the tail of its log.</summary>
public sealed class MariaBackupFailedException(string step, int exitCode, string stderrTail) : Exception(Describe(step, exitCode, stderrTail))
{
    public int ExitCode { get; } = exitCode;
    public string StderrTail { get; } = stderrTail;

    private static string Describe(string step, int exitCode, string tail)
    {
        var what = exitCode == 0
            ? $"mariabackup {step} exited without reporting 'completed OK!', so its output cannot be trusted."
            : $"mariabackup {step} failed with exit code {exitCode}.";
        var hint = tail.Contains("Access denied", StringComparison.OrdinalIgnoreCase)
            ? " The server refused the login: check the target's user and its password (passwordEnv/passwordFile in the policy, or -Credential)."
            : tail.Contains("Can't connect", StringComparison.OrdinalIgnoreCase) || tail.Contains("Failed to connect", StringComparison.OrdinalIgnoreCase)
                ? " The server could not be reached: check that it runs and that the target's socket or host and port are right (Test-BackupTarget)."
                : "";
        return what + hint + (tail.Length > 0 ? $" Last lines of its log:{Environment.NewLine}{tail}" : "");
    }
}

/// <summary>An incremental was asked for but the target has no full backup to continue from.</summary>
public sealed class NoFullBackupException(string target) : Exception(
    $"Target '{target}' has no full backup in the repository, so there is nothing for an incremental to continue from. " +
    $"Run: Start-DbBackup -Target {target} -Type Full");

/// <summary>
/// Binary log files needed for point-in-time recovery are missing from the archive inside one timeline: purged from the
/// server before they were archived. <paramref name="detail"/> names the files, GTID states and times on both sides.
/// </summary>
public sealed class BinlogHoleException(string target, IReadOnlyList<string> missing, string detail) : Exception(
    $"Target '{target}': {detail}. Point-in-time recovery cannot cross that gap. Take a full backup now (Start-DbBackup -Type Full) " +
    "to start a new unbroken chain, and archive binary logs more often than the server purges them (expire_logs_days / binlog_expire_logs_seconds).")
{
    public IReadOnlyList<string> Missing { get; } = missing;
}
