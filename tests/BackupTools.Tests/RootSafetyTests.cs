using System.Diagnostics;
using BackupTools.Engine.Config;
using BackupTools.Engine.Models;

namespace BackupTools.Tests;

/// <summary>
/// Root working in directories another account owns: an unprivileged account created for the test plants links, and
/// nothing outside the intended place may change (owner, mode, content).
/// </summary>
public sealed class RootSafetyTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _user = "bt-attacker-" + Guid.NewGuid().ToString("N")[..6];

    public RootSafetyTests()
    {
        Assert.True(Environment.UserName == "root", "these tests create an account and must run as root (CI does)");
        Run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _user);
    }

    public void Dispose()
    {
        try { Run("userdel", _user); } catch (Exception) { /* best effort */ }
        _dir.Dispose();
    }

    private static string Run(string program, params string[] arguments)
    {
        using var p = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
        return output;
    }

    /// <summary>Runs a shell command as the attacker account.</summary>
    private void AsAttacker(string command) => Run("setpriv", "--reuid", _user, "--regid", _user, "--clear-groups", "/bin/sh", "-c", command);

    private string OwnedByAttacker(string name)
    {
        var path = _dir.Combine(name);
        Directory.CreateDirectory(path);
        Run("chown", $"{_user}:{_user}", path);
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)Convert.ToInt32("0755", 8));
        return path;
    }

    [Fact]
    public async Task RestoreConfigFileNeverWritesThroughALinkTheDirectoryOwnerPlanted()
    {
        var etc = OwnedByAttacker("etc-app");
        var victim = _dir.Combine("victim");
        File.WriteAllText(victim, "root's file\n");
        var conf = Path.Combine(etc, "app.conf");
        File.WriteAllText(conf, "v = 1\n");
        var repo = _dir.Combine("repo");
        var first = await ConfigBackup.RunAsync(new ConfigBackupRequest { RepositoryRoot = repo, Paths = [conf] }, CancellationToken.None);
        // The owner of the directory replaces the file with a link to a root file, hoping the restore writes through it.
        AsAttacker($"rm -f '{conf}' && ln -s '{victim}' '{conf}'");
        var plan = ConfigRestore.Plan(repo, conf, first.Commit, null, null);
        var e = await Assert.ThrowsAsync<IOException>(() => ConfigRestore.RunAsync(plan, null, CancellationToken.None));
        Assert.Contains("is a symlink", e.Message);
        Assert.Equal("root's file\n", File.ReadAllText(victim));
        Assert.Equal("0:0", Run("stat", "-c", "%u:%g", victim).Trim());

        // With the link gone, the restore works in the owner's directory, through its handle, and leaves no temp file.
        AsAttacker($"rm -f '{conf}'");
        await ConfigRestore.RunAsync(ConfigRestore.Plan(repo, conf, first.Commit, null, null), null, CancellationToken.None);
        Assert.Equal("v = 1\n", File.ReadAllText(conf));
        Assert.Equal(["app.conf"], Directory.GetFileSystemEntries(etc).Select(Path.GetFileName));
    }

    [Fact]
    public async Task RestoreAiModelRefusesADirectoryAnotherAccountCanWrite()
    {
        var source = _dir.Combine("source");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "VERSION"), "1");
        var repo = _dir.Combine("repo");
        var (v, _) = await ModelBackup.RunAsync(repo, "llm", source, null, [], false, null, CancellationToken.None);
        var models = OwnedByAttacker("models");
        var e = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ModelRestore.RunAsync(repo, v, Path.Combine(models, "llm"), null, null, CancellationToken.None));
        Assert.Contains("can be written by its owner", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(models));
        // A directory only root can write is fine.
        var safe = _dir.Combine("root-models");
        Directory.CreateDirectory(safe);
        File.SetUnixFileMode(safe, (UnixFileMode)Convert.ToInt32("0755", 8));
        await ModelRestore.RunAsync(repo, v, Path.Combine(safe, "llm"), null, null, CancellationToken.None);
        Assert.Equal("1", File.ReadAllText(Path.Combine(safe, "llm", "VERSION")));
    }
}
