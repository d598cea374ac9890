using System.Diagnostics;

namespace BackupTools.TestServers;

/// <summary>
/// A real SMTP server on a free loopback port: aiosmtpd (Debian: python3-aiosmtpd) with its Mailbox handler, which
/// stores every message it accepts in a maildir the test reads back.
/// </summary>
public sealed class SmtpServer : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private readonly Process _process;

    private SmtpServer(Process process, int port, string maildir)
    {
        _process = process;
        Port = port;
        Maildir = maildir;
    }

    public int Port { get; }
    public string Maildir { get; }

    public static SmtpServer Start(string directory)
    {
        if (!File.Exists(Python) || !Directory.Exists("/usr/lib/python3/dist-packages/aiosmtpd"))
            throw new ServerBinaryMissingException("aiosmtpd", "python3-aiosmtpd");
        var maildir = Path.Combine(directory, "maildir");
        foreach (var d in new[] { "new", "cur", "tmp" }) Directory.CreateDirectory(Path.Combine(maildir, d));
        var port = FreePort.Next();
        var psi = new ProcessStartInfo(Python) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", maildir }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        try
        {
            FreePort.WaitForListener(port, TimeSpan.FromSeconds(30), () => !process.HasExited, "aiosmtpd");
            return new SmtpServer(process, port, maildir);
        }
        catch
        {
            if (!process.HasExited) process.Kill(true);
            throw;
        }
    }

    /// <summary>The raw text of every message received so far.</summary>
    public IReadOnlyList<string> Messages() =>
        Directory.GetFiles(Path.Combine(Maildir, "new")).Concat(Directory.GetFiles(Path.Combine(Maildir, "cur"))).Order().Select(File.ReadAllText).ToList();

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(true);
        _process.Dispose();
    }
}
