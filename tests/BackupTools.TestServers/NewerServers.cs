namespace BackupTools.TestServers;

/// <summary>
/// Server releases newer than Debian 12 ships (Redis 8.0, Valkey 8.0, MariaDB 11.8), fetched by tools/newer-servers.sh from Debian's
/// own archive into NEWER_SERVERS_DIR, else output/newer-servers (where build.ps1 -Task Bootstrap puts them). When they
/// are missing the tests fetch them once; when that fails the tests fail, saying why: never skipped, never passed.
/// </summary>
public static class NewerServers
{
    private static readonly object Gate = new();
    private static string? _directory;

    public static string Redis8Server => Program("redis8-server");
    public static string ValkeyServer => Program("valkey-server");

    /// <summary>MariaDB 11.8's wrappers (mariadbd, mariabackup, mbstream, mariadb, mariadb-binlog, mariadb-upgrade …).</summary>
    public static string MariaDb11Tools => Path.GetFullPath(Path.GetDirectoryName(Program(Path.Combine("..", "mariadb11", "mariadbd")))!);

    private static string Program(string name)
    {
        var path = Path.Combine(Directory, "bin", name);
        lock (Gate)
        {
            if (!File.Exists(Path.Combine(Directory, "ok"))) Fetch();
        }
        return File.Exists(path) ? path
            : throw new InvalidOperationException($"{Directory} is marked complete but has no {name}: remove it and run `dotnet pwsh ./build.ps1 -Task Bootstrap`.");
    }

    /// <summary>NEWER_SERVERS_DIR, else output/newer-servers in the repository the tests were built from.</summary>
    public static string Directory => _directory ??= Environment.GetEnvironmentVariable("NEWER_SERVERS_DIR") is { Length: > 0 } set
        ? set : Path.Combine(RepositoryRoot(), "output", "newer-servers");

    private static void Fetch()
    {
        var script = Path.Combine(RepositoryRoot(), "tools", "newer-servers.sh");
        try
        {
            // The script reads NEWER_SERVERS_DIR; sourcing it the way its header says, so there is one way to run it.
            ChildProcess.Run("/usr/bin/env", [$"NEWER_SERVERS_DIR={Directory}", "bash", "-c", "source \"$0\" && newer_setup", script], timeoutMs: 600_000);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException(
                $"The newer server releases are not in {Directory} and fetching them failed ({e.Message.Trim()}). " +
                "They come from Debian's archive (trixie, bookworm-backports) through apt-get download: run `dotnet pwsh ./build.ps1 -Task Bootstrap` where that archive is reachable.", e);
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tools", "newer-servers.sh")) && File.Exists(Path.Combine(dir.FullName, "build.ps1")))
                return dir.FullName;
        throw new InvalidOperationException($"No repository (tools/newer-servers.sh) above {AppContext.BaseDirectory}; set NEWER_SERVERS_DIR to a directory the script filled.");
    }
}
