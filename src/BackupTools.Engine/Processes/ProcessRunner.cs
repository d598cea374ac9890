using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.Processes;

/// <summary>What to run. Arguments are passed as a list (no shell), so nothing is re-parsed or glob-expanded.</summary>
public sealed record ProcessSpec(string FileName, IReadOnlyList<string> Arguments)
{
    public string? WorkingDirectory { get; init; }
    /// <summary>Extra, non-secret variables for the child.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    /// <summary>Optional source copied to the child's stdin, then closed.</summary>
    public Stream? StandardInput { get; init; }
}

public sealed record ProcessResult(int ExitCode, TimeSpan Duration, string StderrTail, int ProcessId);

/// <summary>
/// The one place external programs run. Streams stdout to a consumer, keeps the tail of stderr for messages,
/// kills the child and its children on cancellation, and keeps secrets out of the child's environment.
/// </summary>
public static partial class ProcessRunner
{
    private const int StderrTailLines = 40;

    /// <summary>Names of variables that held secrets this process read (passwordEnv); never passed on.</summary>
    private static readonly HashSet<string> s_secretVariables = new(StringComparer.OrdinalIgnoreCase);

    [GeneratedRegex("PASSW(OR)?D|SECRET|TOKEN|CREDENTIAL|APIKEY|API_KEY|MYSQL_PWD|REDISCLI_AUTH", RegexOptions.IgnoreCase)]
    private static partial Regex SecretLookingName();

    /// <summary>Marks an environment variable as a secret so no child ever inherits it.</summary>
    public static void RegisterSecretVariable(string name)
    {
        lock (s_secretVariables) s_secretVariables.Add(name);
    }

    /// <summary>Runs the program; stdout goes to <paramref name="stdoutConsumer"/> (or is discarded).</summary>
    /// <param name="onStderrLine">Called for every stderr line as it arrives (verbose logging, progress).</param>
    public static async Task<ProcessResult> RunAsync(
        ProcessSpec spec,
        Func<Stream, CancellationToken, Task>? stdoutConsumer,
        CancellationToken cancellationToken,
        Action<string>? onStderrLine = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var psi = new ProcessStartInfo(Locate(spec.FileName))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = spec.StandardInput is not null,
            UseShellExecute = false,
            WorkingDirectory = spec.WorkingDirectory ?? "",
        };
        foreach (var a in spec.Arguments) psi.ArgumentList.Add(a);
        ScrubSecrets(psi.Environment);
        foreach (var (k, v) in spec.Environment) psi.Environment[k] = v;

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception e) when (e.NativeErrorCode == 2)
        {
            throw new ToolNotFoundException(spec.FileName, ToolNotFoundException.PackageOf(Path.GetFileName(spec.FileName)));
        }

        var tail = new Queue<string>();
        var stderrTask = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (tail)
                {
                    tail.Enqueue(line);
                    if (tail.Count > StderrTailLines) tail.Dequeue();
                }
                onStderrLine?.Invoke(line);
            }
        }, CancellationToken.None);

        // Killing the whole tree is what makes Ctrl+C prompt: mariabackup | mbstream pipelines and shells that
        // spawned helpers must not outlive the cmdlet.
        await using var killOnCancel = cancellationToken.Register(() => KillTree(process));
        try
        {
            var stdinTask = spec.StandardInput is { } input
                ? Task.Run(async () =>
                {
                    try { await input.CopyToAsync(process.StandardInput.BaseStream, cancellationToken); }
                    catch (IOException) { /* the child closed stdin early; its exit code says why */ }
                    finally { process.StandardInput.Close(); }
                }, CancellationToken.None)
                : Task.CompletedTask;
            var stdout = process.StandardOutput.BaseStream;
            if (stdoutConsumer is not null) await stdoutConsumer(stdout, cancellationToken);
            await stdout.CopyToAsync(Stream.Null, cancellationToken); // drain whatever the consumer left
            await process.WaitForExitAsync(cancellationToken);
            await stderrTask;
            await stdinTask;
        }
        catch (Exception) when (!process.HasExited)
        {
            KillTree(process);
            throw;
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested) KillTree(process);
        }
        cancellationToken.ThrowIfCancellationRequested();

        string stderrTail;
        lock (tail) stderrTail = string.Join(Environment.NewLine, tail);
        return new ProcessResult(process.ExitCode, stopwatch.Elapsed, stderrTail, process.Id);
    }

    /// <summary>
    /// Starts a long-running program (a temporary server) with the same environment scrubbing, its output discarded.
    /// The caller owns the process and must stop it.
    /// </summary>
    /// <param name="stderrLine">Each line the program writes to stderr (else discarded); called on a thread of its own.</param>
    public static Process StartService(ProcessSpec spec, Action<string>? stderrLine = null)
    {
        var psi = new ProcessStartInfo(Locate(spec.FileName))
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = spec.WorkingDirectory ?? "",
        };
        foreach (var a in spec.Arguments) psi.ArgumentList.Add(a);
        ScrubSecrets(psi.Environment);
        foreach (var (k, v) in spec.Environment) psi.Environment[k] = v;
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (Win32Exception e) when (e.NativeErrorCode == 2)
        {
            throw new ToolNotFoundException(spec.FileName, ToolNotFoundException.PackageOf(Path.GetFileName(spec.FileName)));
        }
        _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        _ = stderrLine is null ? process.StandardError.BaseStream.CopyToAsync(Stream.Null) : Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line) stderrLine(line);
        });
        return process;
    }

    private static readonly string[] SystemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// A bare program name, found on PATH or else in the system directories: cron runs jobs with PATH=/usr/bin:/bin,
    /// and Debian keeps mariadbd in /usr/sbin. Names with a directory are used as given.
    /// </summary>
    public static string Locate(string fileName)
    {
        if (OperatingSystem.IsWindows() || fileName.Contains('/')) return fileName;
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var dir in path.Concat(SystemDirectories))
        {
            var candidate = Path.Combine(dir, fileName);
            if (File.Exists(candidate)) return candidate;
        }
        return fileName; // not found: starting it reports ToolNotFound with the package to install
    }

    /// <summary>Kills a process and its children; nothing if it is gone.</summary>
    public static void Kill(Process process) => KillTree(process);

    /// <summary>Runs a short command and returns its stdout as text; throws <see cref="ToolFailedException"/> on a non-zero exit.</summary>
    public static async Task<string> RunForTextAsync(ProcessSpec spec, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var result = await RunAsync(spec, async (stdout, ct) =>
        {
            using var reader = new StreamReader(stdout, leaveOpen: true);
            text.Append(await reader.ReadToEndAsync(ct));
        }, cancellationToken);
        if (result.ExitCode != 0) throw new ToolFailedException(spec.FileName, result.ExitCode, result.StderrTail);
        return text.ToString();
    }

    private static void ScrubSecrets(IDictionary<string, string?> environment)
    {
        string[] secretNames;
        lock (s_secretVariables) secretNames = s_secretVariables.ToArray();
        foreach (var name in environment.Keys.ToList())
            if (secretNames.Contains(name, StringComparer.OrdinalIgnoreCase) || SecretLookingName().IsMatch(name))
                environment.Remove(name);
    }

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* already gone */ }
        catch (Win32Exception) { /* already gone or not ours */ }
    }
}
