using System.Diagnostics;

namespace BackupTools.TestServers;

/// <summary>
/// s3rver (an S3-compatible fake from npm) on a free loopback port with its own data directory, from
/// tests/offsite-tools (npm ci there; build.ps1 -Task Bootstrap does it). It speaks the object, multipart and listing
/// calls; it has no Object Lock (the lock paths are tested against a recorder).
/// </summary>
public sealed class S3rverServer : IDisposable
{
    // s3rver's fixed development credentials (public, documented; not a secret).
    public const string AccessKeyId = "S3RVER", SecretAccessKey = "S3RVER";
    private readonly Process _process;

    private S3rverServer(Process process, int port, string dataDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public static S3rverServer Start(string dataDirectory)
    {
        var program = OffsiteTools.Bin("s3rver");
        Directory.CreateDirectory(dataDirectory);
        var port = FreePort.Next();
        var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-d", dataDirectory, "-a", "127.0.0.1", "-p", port.ToString(), "--silent", "--no-vhost-buckets" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(60), () => !process.HasExited, "s3rver");
            return new S3rverServer(process, port, dataDirectory);
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) { _process.Kill(true); _process.WaitForExit(10_000); } }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>The npm programs of tests/offsite-tools, found from the repository above this assembly.</summary>
internal static class OffsiteTools
{
    public static string Bin(string name)
    {
        // The repository above this assembly (xunit's bin, or output/obj/testservers when Pester loads it into pwsh).
        var start = Path.GetDirectoryName(typeof(OffsiteTools).Assembly.Location) ?? AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var tools = Path.Combine(dir.FullName, "tests", "offsite-tools");
            if (!File.Exists(Path.Combine(tools, "package.json"))) continue;
            var bin = Path.Combine(tools, "node_modules", ".bin", name);
            return File.Exists(bin) ? bin : throw new InvalidOperationException(
                $"'{bin}' is missing, so the offsite tests cannot run: run npm ci --prefix tests/offsite-tools (dotnet pwsh ./build.ps1 -Task Bootstrap does).");
        }
        throw new InvalidOperationException($"No tests/offsite-tools above {start}.");
    }
}
