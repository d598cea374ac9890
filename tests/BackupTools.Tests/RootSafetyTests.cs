using System.Diagnostics;
using BackupTools.Engine.Config;
using BackupTools.Engine.Models;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Status;
using BackupTools.Model;
using BackupTools.TestServers;

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
        // Planning refuses already: it reads the live file for its secret lines, never through a link.
        var e = Assert.Throws<IOException>(() => ConfigRestore.Plan(repo, conf, first.Commit, null, null));
        Assert.Contains("is a symlink", e.Message);
        Assert.Equal("root's file\n", File.ReadAllText(victim));
        Assert.Equal("0:0", Run("stat", "-c", "%u:%g", victim).Trim());

        // With the link gone, the restore works in the owner's directory, through its handle, and leaves no temp file.
        AsAttacker($"rm -f '{conf}'");
        await ConfigRestore.RunAsync(ConfigRestore.Plan(repo, conf, first.Commit, null, null), null, CancellationToken.None);
        Assert.Equal("v = 1\n", File.ReadAllText(conf));
        Assert.Equal(["app.conf"], Directory.GetFileSystemEntries(etc).Select(Path.GetFileName));
    }

    /// <summary>A root-owned directory holding a root file: what an attack would try to write into, chown or delete.</summary>
    private (string Directory, Func<string> Snapshot) Victim()
    {
        var victim = _dir.Combine("victim-dir");
        Directory.CreateDirectory(victim);
        File.WriteAllText(Path.Combine(victim, "keep"), "root's\n");
        return (victim, () => Run("sh", "-c", $"cd '{victim}' && ls -la --time-style=+%s . && cat keep"));
    }

    private uint AttackerUid => uint.Parse(Run("id", "-u", _user).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    private async Task<ModelManifest> ModelVersionAsync(string version, string content)
    {
        var source = _dir.Combine("source-" + version);
        Directory.CreateDirectory(Path.Combine(source, "weights"));
        File.WriteAllText(Path.Combine(source, "VERSION"), version);
        File.WriteAllText(Path.Combine(source, "weights", "model.bin"), content);
        return (await ModelBackup.RunAsync(_dir.Combine("repo"), "llm", source, null, [], false, null, CancellationToken.None)).Manifest;
    }

    [Fact]
    public async Task RestoreAiModelWorksInADirectoryAnotherAccountOwnsAndAnySwapMidWayWritesNothingOutside()
    {
        var v1 = await ModelVersionAsync("1", "one");
        var v2 = await ModelVersionAsync("2", "two");
        var models = OwnedByAttacker("models");
        var destination = Path.Combine(models, "llm");
        var (victim, snapshot) = Victim();
        var before = snapshot();

        // No attack: the restore works through handles and the tree goes to the directory's owner.
        await ModelRestore.RunAsync(_dir.Combine("repo"), v1, destination, null, null, CancellationToken.None);
        Assert.Equal("one", File.ReadAllText(Path.Combine(destination, "weights", "model.bin")));
        Assert.Equal(AttackerUid.ToString(System.Globalization.CultureInfo.InvariantCulture), Run("stat", "-c", "%u", Path.Combine(destination, "weights", "model.bin")).Trim());
        Assert.Equal(["llm"], Directory.GetFileSystemEntries(models).Select(Path.GetFileName));

        // Attack 1: while root fills the new directory, its name is swapped for a link to a root directory.
        var attacked = false;
        SafeDirectory.PauseAt = step =>
        {
            if (step != "model:materialise" || attacked || Directory.GetDirectories(models, "llm.restore-*").FirstOrDefault() is not { } fresh) return;
            attacked = true;
            AsAttacker($"mv '{fresh}' '{models}/stolen' && ln -s '{victim}' '{fresh}'");
        };
        try
        {
            var e = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(_dir.Combine("repo"), v2, destination, null, null, CancellationToken.None));
            Assert.True(attacked);
            Assert.Contains("replaced it mid-way", e.Message);
        }
        finally { SafeDirectory.PauseAt = null; }
        Assert.Equal(before, snapshot());
        Assert.Equal("one", File.ReadAllText(Path.Combine(destination, "weights", "model.bin"))); // the previous version is back
        Assert.DoesNotContain(Directory.GetFileSystemEntries(models), e => Path.GetFileName(e).StartsWith("llm.", StringComparison.Ordinal));

        // Attack 2: just before the swap, the live model directory becomes a link to the root directory; the restore
        // renames the link aside and removes it (never what it points at), and the new version lands.
        attacked = false;
        SafeDirectory.PauseAt = step =>
        {
            if (step != "model:swap" || attacked) return;
            attacked = true;
            AsAttacker($"mv '{destination}' '{models}/old' && ln -s '{victim}' '{destination}'");
        };
        try { await ModelRestore.RunAsync(_dir.Combine("repo"), v2, destination, null, null, CancellationToken.None); }
        finally { SafeDirectory.PauseAt = null; }
        Assert.True(attacked);
        Assert.Equal(before, snapshot());
        Assert.Equal("two", File.ReadAllText(Path.Combine(destination, "weights", "model.bin")));
    }

    [Fact]
    public async Task AModelDestinationBelowADirectoryAnotherAccountCanWriteIsRefused()
    {
        var v1 = await ModelVersionAsync("1", "one");
        // The account owns a directory ABOVE the destination's parent: it could swap the whole path before root opens it.
        var home = OwnedByAttacker("home");
        AsAttacker($"mkdir '{home}/models'");
        var e = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ModelRestore.RunAsync(_dir.Combine("repo"), v1, Path.Combine(home, "models", "llm"), null, null, CancellationToken.None));
        Assert.Contains("can be written by its owner", e.Message);
        Assert.Contains(home, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(home, "models")));
    }

    [Fact]
    public async Task RedisReplaceInADirectoryTheRedisAccountOwnsWritesOnlyThereWhateverItSwaps()
    {
        var data = _dir.Combine("redis");
        using var server = RedisServer.Start(data, "--appendonly", "yes");
        server.Command("SET k v1");
        var target = new TargetPolicy
        {
            Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = server.Port, DataDir = server.BaseDirectory,
            StartCommand = server.CommandLine(daemonize: true),
        };
        var repo = _dir.Combine("repo");
        Assert.Null((await RedisBackup.RunAsync(new BackupRequest { RepositoryRoot = repo, Target = target }, RedisBackupMethod.Replication, CancellationToken.None)).Error);
        server.Command("SET k after-the-backup");
        Run("chown", "-R", $"{_user}:{_user}", server.BaseDirectory);
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)Convert.ToInt32("0755", 8));
        var (victim, snapshot) = Victim();
        var before = snapshot();

        // The redis account swaps root's work directory for a link to a root directory while the server is down, and
        // plants links at the names root renames aside.
        var attacked = false;
        SafeDirectory.PauseAt = step =>
        {
            if (step != "redis:put-in-place" || attacked || Directory.GetDirectories(server.BaseDirectory, ".backuptools-restore-*").FirstOrDefault() is not { } work) return;
            attacked = true;
            AsAttacker($"mv '{work}' '{server.BaseDirectory}/moved' && ln -s '{victim}' '{work}' && rm -f '{server.BaseDirectory}/dump.rdb' && ln -s '{victim}/keep' '{server.BaseDirectory}/dump.rdb'");
        };
        RestoreResult result;
        try
        {
            result = await RedisRestore.RunAsync(new RedisRestoreRequest { RepositoryRoot = repo, Target = target, PointInTime = DateTime.UtcNow, Replace = true }, CancellationToken.None);
        }
        finally { SafeDirectory.PauseAt = null; }
        Assert.True(attacked);
        Assert.True(result.Validated);
        Assert.EndsWith("\r\nv1", server.Command("GET k").TrimEnd());
        Assert.Equal(before, snapshot());
        // The files root put there belong to the directory's owner, set through handles.
        var uid = AttackerUid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(uid, Run("stat", "-c", "%u", Path.Combine(server.BaseDirectory, "dump.rdb")).Trim());
        Assert.Equal(uid, Run("stat", "-c", "%u", Path.Combine(server.BaseDirectory, "appendonlydir", "appendonly.aof.1.base.rdb")).Trim());
        server.Command("SHUTDOWN NOSAVE");
    }

    [Fact]
    public void WorkByPathIsRefusedUnderADirectoryAnotherAccountCanWriteAndAllowedWhereOnlyRootOrStickyIs()
    {
        var owned = OwnedByAttacker("mysql-parent");
        var e = Assert.Throws<UnauthorizedAccessException>(() => SafeDirectory.RefuseUnlessOnlyRootWrites(owned, "to restore into 'x'"));
        Assert.Contains($"'{owned}'", e.Message);
        Assert.Contains("can be written by its owner", e.Message);
        // A symlink on the way made by the account (in its own directory) is refused too, wherever it points.
        AsAttacker($"ln -s / '{owned}/to-root'");
        Assert.Throws<UnauthorizedAccessException>(() => SafeDirectory.RefuseUnlessOnlyRootWrites(Path.Combine(owned, "to-root", "var"), "to restore into 'x'"));
        var rootOnly = _dir.Combine("root-only");
        Directory.CreateDirectory(rootOnly);
        File.SetUnixFileMode(rootOnly, (UnixFileMode)Convert.ToInt32("0755", 8));
        SafeDirectory.RefuseUnlessOnlyRootWrites(rootOnly, "x");
        var sticky = _dir.Combine("sticky");
        Directory.CreateDirectory(sticky);
        File.SetUnixFileMode(sticky, (UnixFileMode)Convert.ToInt32("1777", 8));
        SafeDirectory.RefuseUnlessOnlyRootWrites(sticky, "x");
        // A root-made link on a root-only path is followed.
        Directory.CreateSymbolicLink(_dir.Combine("link-to-root-only"), rootOnly);
        using var opened = SafeDirectory.OpenPath(_dir.Combine("link-to-root-only"), "x");
        Assert.Equal(rootOnly, opened.Path);
    }

    [Fact]
    public void ADirectoryOwnedByAnotherAccountIsRefusedOnThePathWhateverModeItShows()
    {
        // Its owner can take write away (0555) or set the sticky bit (1755) and put either back at will.
        foreach (var mode in new[] { "0555", "1755" })
        {
            var owned = OwnedByAttacker("owned-" + mode);
            AsAttacker($"mkdir '{owned}/below' && chmod {mode} '{owned}'");
            var e = Assert.Throws<UnauthorizedAccessException>(() => SafeDirectory.OpenPath(Path.Combine(owned, "below", "x"), "to test", create: true));
            Assert.Contains($"'{owned}'", e.Message);
            Assert.False(Directory.Exists(Path.Combine(owned, "below", "x")));
        }
        // In a sticky directory of root's (as /tmp), a link another account made is not followed.
        var sticky = _dir.Combine("sticky-tmp");
        Directory.CreateDirectory(sticky);
        File.SetUnixFileMode(sticky, (UnixFileMode)Convert.ToInt32("1777", 8));
        AsAttacker($"ln -s / '{sticky}/planted'");
        Assert.Throws<UnauthorizedAccessException>(() => SafeDirectory.OpenPath(Path.Combine(sticky, "planted", "etc"), "to test"));
    }

    [Fact]
    public async Task AThirdAccountsDirectoryRenamedToTheModelsPreviousNameIsNotDeleted()
    {
        var v1 = await ModelVersionAsync("1", "one");
        var v2 = await ModelVersionAsync("2", "two");
        var models = OwnedByAttacker("models");
        var destination = Path.Combine(models, "llm");
        await ModelRestore.RunAsync(_dir.Combine("repo"), v1, destination, null, null, CancellationToken.None);
        // A directory of root's the attacking account can rename (it sits in the account's directory) but not delete.
        var third = Path.Combine(models, "third");
        Directory.CreateDirectory(third);
        File.WriteAllText(Path.Combine(third, "data"), "not the attacker's");
        File.SetUnixFileMode(third, (UnixFileMode)Convert.ToInt32("0755", 8));
        var log = new List<string>();
        // While the validation runs, the account swaps the old version (moved aside) for the third directory.
        await ModelRestore.RunAsync(_dir.Combine("repo"), v2, destination, _ =>
        {
            var previous = Directory.GetDirectories(models, "llm.previous-*").Single();
            AsAttacker($"mv '{previous}' '{models}/kept-old' && mv '{third}' '{previous}'");
            return Task.FromResult(true);
        }, log.Add, CancellationToken.None);
        var renamed = Directory.GetDirectories(models, "llm.previous-*").Single();
        Assert.Equal("not the attacker's", File.ReadAllText(Path.Combine(renamed, "data")));
        Assert.Contains(log, l => l.Contains("Left"));
        Assert.Equal("two", File.ReadAllText(Path.Combine(destination, "weights", "model.bin")));
    }

    [Fact]
    public void ExportBackupMetricInADirectoryAnotherAccountOwnsNeverWritesThroughItsLinksOrItsSwap()
    {
        var textfiles = OwnedByAttacker("textfiles");
        var (victim, snapshot) = Victim();
        var before = snapshot();
        var final = Path.Combine(textfiles, "backuptools.prom");
        // Planted before: a link at the final name (and at the name an older version used for its temporary file).
        AsAttacker($"ln -s '{victim}/keep' '{final}' && ln -s '{victim}/keep' '{textfiles}/.backuptools.prom.{Environment.ProcessId}.tmp'");
        // And during: right before the rename, the account swaps root's new temporary file for a link to the root file.
        var attacked = false;
        SafeDirectory.PauseAt = step =>
        {
            if (step != "textfile:rename" || attacked) return;
            attacked = true;
            AsAttacker($"cd '{textfiles}' && for f in .backuptools.prom.*.tmp; do [ -L \"$f\" ] || {{ rm -f \"$f\"; ln -s '{victim}/keep' \"$f\"; }}; done");
        };
        try { PrometheusTextfile.Write(final, "backuptools_up 1\n"); }
        finally { SafeDirectory.PauseAt = null; }
        Assert.True(attacked);
        Assert.Equal(before, snapshot());
        // Without the swap the file lands, replacing the planted link.
        PrometheusTextfile.Write(final, "backuptools_up 2\n");
        Assert.Null(new FileInfo(final).LinkTarget);
        Assert.Equal("backuptools_up 2\n", File.ReadAllText(final));
        Assert.Equal(before, snapshot());
    }

    [Fact]
    public async Task BackupAiModelOfAModelAnotherAccountOwnsNeverCopiesWhatItLinksOrSwapsIn()
    {
        var secret = _dir.Combine("root-secret");
        Directory.CreateDirectory(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(secret, "shadow"), "ROOT-ONLY-CONTENT");
        var model = OwnedByAttacker("model");
        // Planted before: a link to the root directory, a link to the root file, a FIFO.
        AsAttacker($"echo 1 > '{model}/VERSION' && echo weights > '{model}/model.bin' && ln -s '{secret}' '{model}/linked' " +
                   $"&& ln -s '{secret}/shadow' '{model}/shadow-link' && mkfifo '{model}/pipe'");
        var repo = _dir.Combine("repo");
        var (v1, _) = await ModelBackup.RunAsync(repo, "llm", model, null, [], false, null, CancellationToken.None);
        Assert.Equal(["VERSION", "model.bin"], v1.Files.Select(f => f.Path).Order(StringComparer.Ordinal));

        // During: after the listing, a listed file becomes a link to the root file.
        var attacked = false;
        SafeDirectory.PauseAt = step =>
        {
            if (step != "model:backup-read:model.bin" || attacked) return; // right before that very file is opened
            attacked = true;
            AsAttacker($"rm -f '{model}/model.bin' && ln -s '{secret}/shadow' '{model}/model.bin'");
        };
        try
        {
            AsAttacker($"echo new > '{model}/VERSION'"); // a changed file, so it is read again
            var e = await Assert.ThrowsAnyAsync<IOException>(() => ModelBackup.RunAsync(repo, "llm", model, "2", [], false, null, CancellationToken.None, rehash: true));
            Assert.Contains("symlink", e.Message);
        }
        finally { SafeDirectory.PauseAt = null; }
        Assert.True(attacked);
        // Nothing of the root file reached the repository.
        foreach (var file in Directory.EnumerateFiles(repo, "*", SearchOption.AllDirectories))
            Assert.DoesNotContain("ROOT-ONLY-CONTENT", File.ReadAllText(file));
    }
}
