using BackupTools.Engine.Config;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Tests;

[Collection(ServerCollection.Name)]
public sealed class TargetProbeTests(ServerFixture fixture)
{
    private readonly BackupTools.TestServers.TestServerSet _servers = fixture.Servers;

    private BackupPolicy Policy(TempDirectory dir) => PolicyParser.Load(_servers.WritePolicy(dir.Path, "BT_PROBE_TEST_PASSWORD"));

    [Fact]
    public async Task EveryEngineAnswersWithItsServerVersion()
    {
        using var dir = new TempDirectory();
        var policy = Policy(dir);
        var maria = await TargetProbe.CheckAsync(policy.FindTarget("main-db")!, _servers.MariaDb.BackupPassword, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(maria.Reachable, maria.Error);
        Assert.Contains("MariaDB", maria.ServerVersion);
        var redis = await TargetProbe.CheckAsync(policy.FindTarget("cache")!, null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(redis.Reachable, redis.Error);
        Assert.StartsWith("7.", redis.ServerVersion);
        var elastic = await TargetProbe.CheckAsync(policy.FindTarget("search")!, null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(elastic.Reachable, elastic.Error);
        Assert.Equal(BackupTools.TestServers.FakeElasticsearch.Version, elastic.ServerVersion);
    }

    [Fact]
    public async Task WrongPasswordIsAnUnreachableResultNotACrash()
    {
        using var dir = new TempDirectory();
        var check = await TargetProbe.CheckAsync(Policy(dir).FindTarget("main-db")!, "wrong", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.False(check.Reachable);
        Assert.Contains("Access denied", check.Error);
    }

    [Fact]
    public async Task PasswordComesFromTheVariableThePolicyNames()
    {
        using var dir = new TempDirectory();
        var target = Policy(dir).FindTarget("main-db")!;
        Environment.SetEnvironmentVariable("BT_PROBE_TEST_PASSWORD", null);
        var e = Assert.Throws<SecretUnavailableException>(() => SecretResolver.Resolve(target, null));
        Assert.Contains("BT_PROBE_TEST_PASSWORD", e.Message);
        Environment.SetEnvironmentVariable("BT_PROBE_TEST_PASSWORD", _servers.MariaDb.BackupPassword);
        try
        {
            var check = await TargetProbe.CheckAsync(target, SecretResolver.Resolve(target, null), TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.True(check.Reachable, check.Error);
        }
        finally { Environment.SetEnvironmentVariable("BT_PROBE_TEST_PASSWORD", null); }
    }

    [Fact]
    public void PasswordFileReadableByOthersIsRefused()
    {
        using var dir = new TempDirectory();
        var secret = dir.Combine("db.secret");
        File.WriteAllText(secret, "pw\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var target = new TargetPolicy { Name = "db", Engine = TargetEngine.MariaDb, PasswordSource = "file:" + secret };
        var e = Assert.Throws<SecretUnavailableException>(() => SecretResolver.Resolve(target, null));
        Assert.Contains("chmod 600", e.Message);
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal("pw", SecretResolver.Resolve(target, null));
    }

    [Fact]
    public async Task StoppedServerIsReportedWithinTheTimeout()
    {
        var target = new TargetPolicy { Name = "gone", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = BackupTools.TestServers.FreePort.Next() };
        var check = await TargetProbe.CheckAsync(target, null, TimeSpan.FromSeconds(2), CancellationToken.None);
        Assert.False(check.Reachable);
        Assert.NotNull(check.Error);
        Assert.True(check.Latency < TimeSpan.FromSeconds(6));
    }

    [Fact]
    public void RepositoryInitializationCreatesTheConfigHistoryOnceAndIsRepeatable()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        var first = RepositoryService.Initialize(root);
        Assert.NotNull(first.ConfigHead);
        Assert.Equal(40, first.ConfigHead!.Length);
        Assert.True(Directory.Exists(Path.Combine(root, "config", ".git")));
        var second = RepositoryService.Initialize(root);
        Assert.Equal(first.ConfigHead, second.ConfigHead);
        Assert.Equal(0, second.BackupSets);
        Assert.Equal(first.ConfigHead, ConfigRepository.Head(root));
    }

    [Fact]
    public async Task TheProbeLogsInAsTheBackupDoesWithAnElasticsearchApiKeyAndARedisAclUser()
    {
        // An API key (a secret without a user), as EsConnection sends it for backups.
        using var es = BackupTools.TestServers.FakeElasticsearch.Start();
        es.RequiredAuthorization = "ApiKey the-key";
        var search = new TargetPolicy { Name = "search", Engine = TargetEngine.Elasticsearch, Url = es.Url, SnapshotRepository = "backups" };
        var ok = await TargetProbe.CheckAsync(search, "the-key", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(ok.Reachable, ok.Error);
        Assert.False((await TargetProbe.CheckAsync(search, "wrong-key", TimeSpan.FromSeconds(10), CancellationToken.None)).Reachable);

        // A Redis ACL user: AUTH <user> <password>, as RespConnection sends it for backups.
        using var dir = new TempDirectory();
        using var redis = BackupTools.TestServers.RedisServer.Start(dir.Combine("acl"));
        redis.Command("ACL SETUSER prober on >prober-pw ~* +@all");
        redis.Command("ACL SETUSER default off");
        var cache = new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = redis.Port, User = "prober" };
        var check = await TargetProbe.CheckAsync(cache, "prober-pw", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(check.Reachable, check.Error);
        Assert.StartsWith("7.", check.ServerVersion);
    }
}
