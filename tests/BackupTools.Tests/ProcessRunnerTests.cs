using System.Diagnostics;
using System.Text;
using BackupTools.Engine.Processes;

namespace BackupTools.Tests;

public sealed class ProcessRunnerTests
{
    [Fact]
    public async Task StdoutIsStreamedToTheConsumerAndStderrTailKept()
    {
        var received = new MemoryStream();
        var result = await ProcessRunner.RunAsync(
            new ProcessSpec("sh", ["-c", "head -c 3000000 /dev/zero; for i in $(seq 1 100); do echo line$i >&2; done; exit 3"]),
            (s, ct) => s.CopyToAsync(received, ct), CancellationToken.None);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(3_000_000, received.Length);
        var tail = result.StderrTail.Split(Environment.NewLine);
        Assert.Equal(40, tail.Length);
        Assert.Equal("line61", tail[0]);
        Assert.Equal("line100", tail[^1]);
    }

    [Fact]
    public async Task StandardInputIsFedToTheChild()
    {
        var text = await ProcessRunner.RunForTextAsync(
            new ProcessSpec("cat", []) { StandardInput = new MemoryStream(Encoding.UTF8.GetBytes("hello via stdin")) },
            CancellationToken.None);
        Assert.Equal("hello via stdin", text);
    }

    [Fact]
    public async Task MissingProgramNamesThePackageToInstall()
    {
        var e = await Assert.ThrowsAsync<ToolNotFoundException>(() =>
            ProcessRunner.RunAsync(new ProcessSpec("/nonexistent/mariabackup", ["--version"]), null, CancellationToken.None));
        Assert.Contains("mariadb-backup", e.Message);
    }

    [Fact]
    public void MissingServerProgramFailsTheFixtureNamingThePackage()
    {
        var e = Assert.Throws<TestServers.ServerBinaryMissingException>(() =>
            TestServers.ServerBinaries.Require("mariadbd-that-is-not-installed", "mariadb-server"));
        Assert.Contains("apt-get install mariadb-server", e.Message);
    }

    [Fact]
    public async Task FailedToolCarriesItsStderr()
    {
        var e = await Assert.ThrowsAsync<ToolFailedException>(() =>
            ProcessRunner.RunForTextAsync(new ProcessSpec("sh", ["-c", "echo 'Access denied for user' >&2; exit 1"]), CancellationToken.None));
        Assert.Equal(1, e.ExitCode);
        Assert.Contains("Access denied for user", e.Message);
    }

    [Fact]
    public async Task CancellationKillsTheChildAndItsChildrenPromptly()
    {
        using var dir = new TempDirectory();
        var pidFile = dir.Combine("pids");
        using var cts = new CancellationTokenSource();
        var run = ProcessRunner.RunAsync(
            new ProcessSpec("sh", ["-c", $"sleep 300 & echo $! > {pidFile}; sleep 300 & echo $! >> {pidFile}; wait"]),
            null, cts.Token);
        await WaitUntil(() => File.Exists(pidFile) && File.ReadAllLines(pidFile).Length == 2);
        var pids = File.ReadAllLines(pidFile).Select(int.Parse).ToArray();
        var clock = Stopwatch.StartNew();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        await WaitUntil(() => pids.All(p => !Alive(p)));
        Assert.All(pids, p => Assert.False(Alive(p), $"child {p} outlived the cancellation"));
    }

    [Fact]
    public async Task SecretVariablesNeverReachTheChildEnvironment()
    {
        Environment.SetEnvironmentVariable("BT_TEST_DB_PASSWORD", "s3cret-a");
        Environment.SetEnvironmentVariable("BT_POLICY_SECRET_SOURCE", "s3cret-b");
        Environment.SetEnvironmentVariable("BT_HARMLESS", "visible");
        try
        {
            ProcessRunner.RegisterSecretVariable("BT_POLICY_SECRET_SOURCE");
            var env = await ProcessRunner.RunForTextAsync(new ProcessSpec("env", []), CancellationToken.None);
            Assert.DoesNotContain("s3cret-a", env);
            Assert.DoesNotContain("s3cret-b", env);
            Assert.Contains("BT_HARMLESS=visible", env);
        }
        finally
        {
            Environment.SetEnvironmentVariable("BT_TEST_DB_PASSWORD", null);
            Environment.SetEnvironmentVariable("BT_POLICY_SECRET_SOURCE", null);
            Environment.SetEnvironmentVariable("BT_HARMLESS", null);
        }
    }

    [Fact]
    public async Task SecretFileIsPrivateWhileUsedAndGoneAfterwardsEvenOnFailure()
    {
        string dirPath, filePath;
        var failing = async () =>
        {
            using var secrets = PrivateTempDirectory.Create();
            dirPath = secrets.Path;
            filePath = secrets.WriteSecretFile("client.cnf", "[client]\npassword=top-secret\n");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dirPath));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(filePath));
            // The child reads the secret from the file; the command line holds only the path.
            var seen = await ProcessRunner.RunForTextAsync(new ProcessSpec("cat", [filePath]), CancellationToken.None);
            Assert.Contains("top-secret", seen);
            throw new InvalidOperationException("simulated failure after the secret was used");
        };
        dirPath = filePath = "";
        await Assert.ThrowsAsync<InvalidOperationException>(failing);
        Assert.False(Directory.Exists(dirPath));
        Assert.False(File.Exists(filePath));
    }

    internal static bool Alive(int pid)
    {
        // A killed child may linger as a zombie until reaped; /proc/<pid>/stat state 'Z' counts as gone.
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return false;
        try { return File.ReadAllText(stat).Split(')')[1].Trim()[0] != 'Z'; }
        catch (IOException) { return false; }
    }

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 10_000)
    {
        var clock = Stopwatch.StartNew();
        while (!condition() && clock.ElapsedMilliseconds < timeoutMs) await Task.Delay(20);
    }
}
