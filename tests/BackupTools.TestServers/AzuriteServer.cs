using System.Diagnostics;

namespace BackupTools.TestServers;

/// <summary>
/// Azurite (Microsoft's Azure Storage emulator, blob service) on a free loopback port with its own data directory,
/// from tests/offsite-tools (npm ci there; build.ps1 -Task Bootstrap does it). No telemetry: nothing leaves loopback.
/// </summary>
public sealed class AzuriteServer : IDisposable
{
    // Azurite's well-known development account (public, documented; not a secret).
    public const string Account = "devstoreaccount1";
    private const string DevelopmentKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly Process _process;

    private AzuriteServer(Process process, int port, string dataDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }
    /// <summary>Where Azurite keeps the blobs' bytes: a test greps it for plaintext.</summary>
    public string DataDirectory { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={DevelopmentKey};BlobEndpoint=http://127.0.0.1:{Port}/{Account};";

    public static AzuriteServer Start(string dataDirectory)
    {
        var program = Program();
        Directory.CreateDirectory(dataDirectory);
        var port = FreePort.Next();
        var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--location", dataDirectory, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--skipApiVersionCheck", "--disableTelemetry", "--silent" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(60), () => !process.HasExited, "azurite-blob");
            return new AzuriteServer(process, port, dataDirectory);
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    private static string Program() => OffsiteTools.Bin("azurite-blob");

    public void Dispose()
    {
        try { if (!_process.HasExited) { _process.Kill(true); _process.WaitForExit(10_000); } }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
