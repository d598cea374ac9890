namespace BackupTools.TestServers;

/// <summary>A server program the tests need is not installed: the tests fail and say which package to install.</summary>
public sealed class ServerBinaryMissingException(string program, string package) : Exception(
    $"'{program}' is not installed, so the tests that need it cannot run. Install the Debian package '{package}' " +
    "(apt-get install " + package + ", or run: dotnet pwsh ./build.ps1 -Task Bootstrap).");

public static class ServerBinaries
{
    /// <summary>Full path of <paramref name="program"/>, looking in PATH and the sbin directories Debian uses.</summary>
    public static string Require(string program, string package)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"]);
        foreach (var dir in dirs)
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path)) return path;
        }
        throw new ServerBinaryMissingException(program, package);
    }
}
