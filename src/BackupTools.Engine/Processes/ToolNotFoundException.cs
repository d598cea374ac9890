namespace BackupTools.Engine.Processes;

/// <summary>An external program we need is not installed; says which package brings it.</summary>
public sealed class ToolNotFoundException(string tool, string? package) : Exception(
    package is null
        ? $"'{tool}' was not found on PATH. Install it, or put its directory on PATH."
        : $"'{tool}' was not found on PATH. Install the package '{package}' (Debian/Ubuntu: apt-get install {package}).")
{
    public string Tool { get; } = tool;
    public string? Package { get; } = package;

    /// <summary>Packages that bring the programs we run, for error messages.</summary>
    public static string? PackageOf(string tool) => tool switch
    {
        "mariabackup" or "mariadb-backup" or "mbstream" => "mariadb-backup",
        "mariadbd" or "mariadb-install-db" => "mariadb-server",
        "mariadb" or "mariadb-binlog" or "mariadb-admin" => "mariadb-client",
        "redis-server" => "redis-server",
        "redis-cli" or "redis-check-rdb" => "redis-tools",
        "zstd" => "zstd",
        _ => null,
    };
}

/// <summary>A child program ended with a non-zero exit code; carries the tail of its stderr.</summary>
public sealed class ToolFailedException(string tool, int exitCode, string stderrTail) : Exception(
    $"'{tool}' failed with exit code {exitCode}." + (stderrTail.Length > 0 ? $" Its last output:{Environment.NewLine}{stderrTail}" : ""))
{
    public string Tool { get; } = tool;
    public int ExitCode { get; } = exitCode;
    public string StderrTail { get; } = stderrTail;
}
