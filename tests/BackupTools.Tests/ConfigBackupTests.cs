using System.Diagnostics;
using BackupTools.Engine.Config;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>Config files in a real Git repository, read back with the git CLI as any Git repository.</summary>
public sealed class ConfigBackupTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Repo => _dir.Combine("repo");
    private string Etc => _dir.Combine("etc");
    private string GitDir => Path.Combine(Repo, "config");

    public ConfigBackupTests()
    {
        Directory.CreateDirectory(Path.Combine(Etc, "docker"));
        File.WriteAllText(Path.Combine(Etc, "docker", "daemon.json"), "{ \"log-driver\": \"json-file\" }\n");
        File.WriteAllText(Path.Combine(Etc, "app.conf"), "port = 8080\nworkers = 4\n");
        File.WriteAllText(Path.Combine(Etc, "shadow"), "root:$6$secret:19000:0:99999:7:::\n");
        File.WriteAllText(Path.Combine(Etc, "tls.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        File.WriteAllText(Path.Combine(Etc, "service.conf"), "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n");
        File.SetUnixFileMode(Path.Combine(Etc, "app.conf"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
    }

    public void Dispose() => _dir.Dispose();

    private Task<ConfigSnapshot> BackupAsync(string? remote = null, List<string>? warnings = null, params string[] excludes) =>
        ConfigBackup.RunAsync(new ConfigBackupRequest { RepositoryRoot = Repo, Paths = [Etc], Excludes = excludes, Remote = remote, Warn = warnings is null ? null : warnings.Add }, CancellationToken.None);

    private static string Git(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"git {string.Join(' ', args)}: {error}");
        return output;
    }

    private string R(string file) => ConfigPaths.ToRepositoryPath(Path.Combine(Etc, file));

    [Fact]
    public async Task TheFirstBackupCommitsEveryFileUnderItsFullPathAndNoSecret()
    {
        var warnings = new List<string>();
        var s = await BackupAsync(warnings: warnings);
        Assert.Equal(ConfigSnapshotStatus.Committed, s.Status);
        Assert.Equal([Path.Combine(Etc, "app.conf"), Path.Combine(Etc, "docker", "daemon.json")], s.Added.Order());
        Assert.Equal(3, s.Skipped.Count);
        Assert.Contains(warnings, w => w.Contains("shadow") && w.Contains("secret pattern 'shadow'"));
        Assert.Contains(warnings, w => w.Contains("service.conf") && w.Contains("private key"));

        var files = Git(GitDir, "ls-files").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(R("docker/daemon.json"), files);
        Assert.StartsWith(_dir.Path.TrimStart('/'), R("app.conf"));
        Assert.DoesNotContain(files, f => f.EndsWith("shadow") || f.EndsWith("tls.pem") || f.EndsWith("service.conf"));
        Git(GitDir, "fsck", "--strict");
        Assert.Equal(s.Commit, Git(GitDir, "rev-parse", "HEAD").Trim());
    }

    [Fact]
    public async Task NoChangeMakesNoCommitAndEachChangeIsOneCommitWithTheRightLists()
    {
        var first = await BackupAsync();
        var again = await BackupAsync();
        Assert.Equal(ConfigSnapshotStatus.Unchanged, again.Status);
        Assert.Equal(first.Commit, again.Commit);
        Assert.Equal("2", Git(GitDir, "rev-list", "--count", "HEAD").Trim()); // the repository's first commit, then ours

        File.AppendAllText(Path.Combine(Etc, "app.conf"), "timeout = 30\n");
        File.Delete(Path.Combine(Etc, "docker", "daemon.json"));
        File.WriteAllText(Path.Combine(Etc, "new.ini"), "[a]\nb=1\n");
        var change = await BackupAsync();
        Assert.Equal(ConfigSnapshotStatus.Committed, change.Status);
        Assert.Equal([Path.Combine(Etc, "new.ini")], change.Added);
        Assert.Equal([Path.Combine(Etc, "app.conf")], change.Modified);
        Assert.Equal([Path.Combine(Etc, "docker", "daemon.json")], change.Deleted);
        Assert.Equal("3", Git(GitDir, "rev-list", "--count", "HEAD").Trim());
        var names = Git(GitDir, "show", "--name-status", "--format=", "HEAD");
        Assert.Contains($"A\t{R("new.ini")}", names);
        Assert.Contains($"M\t{R("app.conf")}", names);
        Assert.Contains($"D\t{R("docker/daemon.json")}", names);
        Assert.Equal(first.Commit, Git(GitDir, "rev-parse", "HEAD~1").Trim()); // history only grows
    }

    [Fact]
    public async Task ModeAndOwnerAreRecordedAndAModeChangeIsACommit()
    {
        await BackupAsync();
        var meta = FileMetadataStore.Read(GitDir)[R("app.conf")];
        Assert.Equal("640", meta.Mode);
        Assert.Equal((0, "root"), (meta.Uid, meta.Owner));
        File.SetUnixFileMode(Path.Combine(Etc, "app.conf"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var change = await BackupAsync();
        Assert.Equal([Path.Combine(Etc, "app.conf")], change.Modified);
        Assert.Equal("600", FileMetadataStore.Read(GitDir)[R("app.conf")].Mode);
        var history = ConfigHistory.List(Repo, Path.Combine(Etc, "app.conf"), null, null, null, null);
        Assert.Equal([ConfigChange.Modified, ConfigChange.Added], history.Select(h => h.Change));

        // Owner: a chown alone is a change, and a restore of the first version puts root back (we run as root).
        var app = Path.Combine(Etc, "app.conf");
        using (var chown = Process.Start("chown", ["65534:65534", app])) chown.WaitForExit();
        var owned = await BackupAsync();
        Assert.Equal([app], owned.Modified);
        Assert.Equal(65534, FileMetadataStore.Read(GitDir)[R("app.conf")].Uid);
        var result = await ConfigRestore.RunAsync(ConfigRestore.Plan(Repo, app, history[^1].Commit, null, null), null, CancellationToken.None);
        Assert.True(result.OwnerRestored);
        Assert.Equal("0:0 640", Stat(app));
    }

    private static string Stat(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%u:%g %a", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return text;
    }

    [Fact]
    public async Task ASecretPatternFromThePolicyKeepsAFileOutOfEveryCommitAndALaterPatternRemovesIt()
    {
        File.WriteAllText(Path.Combine(Etc, "db.password"), "hunter2\n");
        await BackupAsync(excludes: "*.password");
        File.AppendAllText(Path.Combine(Etc, "app.conf"), "x = 1\n");
        await BackupAsync(excludes: "*.password");
        Assert.Empty(Git(GitDir, "log", "--all", "--format=%H", "--", R("db.password")).Trim());
        Assert.DoesNotContain("hunter2", Git(GitDir, "log", "--all", "-p"));
    }

    [Fact]
    public async Task RestoreByCommitAndByTimeWritesTheOldFileKeepsTheCurrentAndSetsTheMode()
    {
        var v1 = await BackupAsync();
        var app = Path.Combine(Etc, "app.conf");
        await Task.Delay(1100); // commit times have one-second resolution
        var between = DateTime.UtcNow;
        await Task.Delay(1100);
        File.WriteAllText(app, "port = 9090\n");
        File.SetUnixFileMode(app, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var v2 = await BackupAsync();

        Assert.Contains(R("app.conf"), Git(GitDir, "ls-tree", "-r", "--name-only", v1.Commit!));
        var plan = ConfigRestore.Plan(Repo, app, v1.Commit![..10], null, null);
        Assert.Contains("-port = 9090", plan.Diff);
        Assert.Contains("+port = 8080", plan.Diff);
        Assert.Contains("+workers = 4", plan.Diff);
        Assert.Equal("port = 9090\n", File.ReadAllText(app)); // planning (what -WhatIf shows) writes nothing
        var result = await ConfigRestore.RunAsync(plan, null, CancellationToken.None);
        Assert.Equal("port = 8080\nworkers = 4\n", File.ReadAllText(app));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(app));
        Assert.Equal("port = 9090\n", File.ReadAllText(result.PreviousCopy!));
        Assert.True(result.OwnerRestored);

        var byTime = ConfigRestore.Plan(Repo, app, null, between, _dir.Combine("out.conf"));
        Assert.Equal(v1.Commit, byTime.CommitId);
        await ConfigRestore.RunAsync(byTime, null, CancellationToken.None);
        Assert.Equal("port = 8080\nworkers = 4\n", File.ReadAllText(_dir.Combine("out.conf")));
        Assert.Equal(v2.Commit, ConfigRestore.Plan(Repo, app, null, DateTime.UtcNow, null).CommitId);
        Assert.Throws<ConfigHistoryException>(() => ConfigRestore.Plan(Repo, app, null, DateTime.UtcNow.AddYears(-1), null));
    }

    [Fact]
    public async Task APushGoesToABareRepositoryAndAMissingRemoteIsAFailedResult()
    {
        var bare = _dir.Combine("remote.git");
        Git(_dir.Path, "init", "--bare", "-q", bare);
        var pushed = await BackupAsync(remote: bare);
        Assert.Equal((ConfigSnapshotStatus.Committed, true), (pushed.Status, pushed.Pushed));
        Assert.Equal(pushed.Commit, Git(bare, "rev-parse", "HEAD").Trim());

        File.AppendAllText(Path.Combine(Etc, "app.conf"), "y = 2\n");
        var failed = await BackupAsync(remote: _dir.Combine("missing.git"));
        Assert.Equal(ConfigSnapshotStatus.Failed, failed.Status);
        Assert.False(failed.Pushed);
        Assert.NotNull(failed.Commit); // the commit is kept; the next run pushes it
        Assert.Contains("push to", failed.Error);
        Assert.Equal(failed.Commit, Git(GitDir, "rev-parse", "HEAD").Trim());
    }

    [Fact]
    public void PathsMapIntoTheRepositoryAndBack()
    {
        Assert.Equal("etc/docker/daemon.json", ConfigPaths.ToRepositoryPath("/etc/docker/daemon.json"));
        Assert.Equal("/etc/docker/daemon.json", ConfigPaths.FromRepositoryPath("etc/docker/daemon.json"));
        Assert.Equal("C/ProgramData/app/x.ini", ConfigPaths.ToRepositoryPath(@"c:\ProgramData\app\x.ini", windows: true));
        Assert.Equal(@"C:\ProgramData\app\x.ini", ConfigPaths.FromRepositoryPath("C/ProgramData/app/x.ini", windows: true));
    }

    [Fact]
    public void TheUnifiedDiffHasHunksWithContext()
    {
        var old = string.Join("\n", Enumerable.Range(1, 20).Select(i => $"line {i}")) + "\n";
        var @new = old.Replace("line 5\n", "line five\n").Replace("line 18\n", "");
        var diff = UnifiedDiff.Create(old, @new, "a", "b");
        Assert.Contains("@@ -2,7 +2,7 @@", diff);
        Assert.Contains("-line 5\n+line five\n", diff);
        Assert.Contains("-line 18\n", diff);
        Assert.Equal("", UnifiedDiff.Create(old, old, "a", "b"));
    }

    [Fact]
    public async Task SecretsInsideConfigFilesNeverReachTheHistoryOrTheRemoteAndARestoreKeepsTheLiveValues()
    {
        var secrets = new Dictionary<string, string>();
        string Secret(string name) => secrets[name] = name + "-" + Guid.NewGuid().ToString("N")[..12];
        var tree = _dir.Combine("secret-tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "redis.conf"), $"port 6379\nrequirepass {Secret("redis")}\nmasterauth {Secret("master")}\n");
        File.WriteAllText(Path.Combine(tree, "my.cnf"), $"[client]\nuser = backup\npassword = {Secret("mysql")}\n");
        File.WriteAllText(Path.Combine(tree, ".env"), $"DEBUG=1\nAPI_KEY={Secret("api")}\nDATABASE_URL=postgres://app:{Secret("url")}@db:5432/app\n");
        File.WriteAllText(Path.Combine(tree, "app.yaml"), $"db:\n  host: db\n  password: \"{Secret("yaml")}\"\nslack: https://hooks.slack.com/services/T0/B0/{Secret("slack")}\n");
        File.WriteAllText(Path.Combine(tree, "bundle.pem"), new string('#', 100 * 1024) + "\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
        var policySecret = Path.Combine(tree, "db.password");
        File.WriteAllText(policySecret, Secret("policy"));
        var remote = _dir.Combine("remote.git");
        Git(_dir.Path, "init", "--bare", "-q", remote);

        var warnings = new List<string>();
        var s = await ConfigBackup.RunAsync(new ConfigBackupRequest
        {
            RepositoryRoot = Repo, Paths = [tree], Remote = remote, SecretFiles = [policySecret], Warn = warnings.Add,
        }, CancellationToken.None);
        Assert.Equal(ConfigSnapshotStatus.Committed, s.Status);
        Assert.Null(s.Error);
        Assert.Contains(policySecret, s.Skipped);
        Assert.Contains(Path.Combine(tree, "bundle.pem"), s.Skipped); // the key after 100 KB is found
        Assert.Contains(warnings, w => w.Contains("redis.conf' line 2") && w.Contains("Redis password"));
        Assert.Contains(warnings, w => w.Contains(".env' line 3") && w.Contains("URL"));

        foreach (var (where, dir) in new[] { ("history", GitDir), ("remote", remote) })
        {
            var everything = Git(dir, "log", "--all", "-p");
            Assert.Contains("port 6379", everything); // the rest of each file is still versioned
            foreach (var (name, value) in secrets)
                Assert.False(everything.Contains(value), $"the {name} secret reached the {where}");
        }
        Assert.Contains(SecretScanner.Placeholder, File.ReadAllText(Path.Combine(GitDir, ConfigPaths.ToRepositoryPath(Path.Combine(tree, "redis.conf")))));

        // A restore puts the file back with the live secret, not the placeholder.
        File.WriteAllText(Path.Combine(tree, "redis.conf"), $"port 6380\nrequirepass {secrets["redis"]}\nmasterauth {secrets["master"]}\n");
        var plan = ConfigRestore.Plan(Repo, Path.Combine(tree, "redis.conf"), s.Commit, null, null);
        Assert.Equal([2, 3], plan.KeptSecretLines);
        await ConfigRestore.RunAsync(plan, null, CancellationToken.None);
        Assert.Equal($"port 6379\nrequirepass {secrets["redis"]}\nmasterauth {secrets["master"]}\n", File.ReadAllText(Path.Combine(tree, "redis.conf")));
    }
}
