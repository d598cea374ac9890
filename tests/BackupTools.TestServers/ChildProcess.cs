using System.Diagnostics;

namespace BackupTools.TestServers;

internal static class ChildProcess
{
    /// <summary>Runs a short command to completion; throws with its output when it fails.</summary>
    public static string Run(string file, IEnumerable<string> args, string? stdin = null, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{file} did not finish in {timeoutMs} ms."); }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
        return stdout.Result;
    }

    /// <summary>Stops a server by PID: SIGTERM, then SIGKILL if it is still there after the grace period.</summary>
    public static void Stop(int pid, TimeSpan grace)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            Run("kill", ["-TERM", pid.ToString()]);
            if (!p.WaitForExit((int)grace.TotalMilliseconds)) p.Kill(true);
        }
        catch (ArgumentException) { /* already gone */ }
        catch (InvalidOperationException) { /* already gone */ }
    }
}
