using BackupTools.Engine.Targets;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// Test-BackupTarget -Readiness against real servers set up wrong on purpose: each finding names the check, its level
/// and the fix; a server set up right has no Error.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ReadinessTests(ServerFixture fixture)
{
    private static IReadOnlyList<ReadinessFinding> Run(TargetPolicy target, string? password, string repo) =>
        ReadinessCheck.RunAsync(target, password, repo, TimeSpan.FromSeconds(5), CancellationToken.None).GetAwaiter().GetResult();

    [Fact]
    public void TheFixtureServersAreReady()
    {
        using var dir = new TempDirectory();
        var s = fixture.Servers;
        var db = Run(new TargetPolicy
        {
            Name = "main-db", Engine = TargetEngine.MariaDb, Socket = s.MariaDb.Socket, User = MariaDbServer.BackupUser, DataDir = s.MariaDb.DataDirectory,
            Schedule = new Dictionary<string, string> { ["binlog"] = "*/15 * * * *" },
        }, s.MariaDb.BackupPassword, dir.Path);
        Assert.DoesNotContain(db, f => f.Level == ReadinessLevel.Error);
        Assert.Contains(db, f => f is { Check: "binlog_format", Level: ReadinessLevel.Ok });
        Assert.Contains(db, f => f is { Check: "privileges", Level: ReadinessLevel.Ok });
        Assert.Contains(db, f => f.Check == "repository space");
        var cache = Run(new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = s.Redis.Port }, null, dir.Path);
        Assert.Contains(cache, f => f is { Check: "ACL SYNC", Level: ReadinessLevel.Ok });
    }

    [Fact]
    public void AStatementFormatServerWithShortExpiryAndALimitedLoginIsNotReady()
    {
        using var dir = new TempDirectory();
        using var db = MariaDbServer.Start(dir.Combine("db"), extraConfig: "binlog_format=STATEMENT\nbinlog_expire_logs_seconds=600");
        db.Sql("SET SESSION sql_log_bin = 0; CREATE USER 'limited'@'localhost' IDENTIFIED BY 'pw-limited'; GRANT SELECT ON *.* TO 'limited'@'localhost';");
        var findings = Run(new TargetPolicy
        {
            Name = "db", Engine = TargetEngine.MariaDb, Socket = db.Socket, User = "limited", Stream = true,
            Schedule = new Dictionary<string, string> { ["binlog"] = "*/15 * * * *" },
        }, "pw-limited", dir.Path);
        var stream = Assert.Single(findings, f => f.Check == "stream privilege");
        Assert.Equal((ReadinessLevel.Error, "GRANT REPLICATION SLAVE ON *.* TO 'limited'@'localhost';"), (stream.Level, stream.Fix));
        var format = Assert.Single(findings, f => f.Check == "binlog_format");
        Assert.Equal(ReadinessLevel.Error, format.Level);
        Assert.Contains("SET GLOBAL binlog_format = 'ROW'", format.Fix);
        var expiry = Assert.Single(findings, f => f.Check == "binlog expiry");
        Assert.Equal(ReadinessLevel.Error, expiry.Level);
        Assert.Contains("10 minutes", expiry.Detail);
        Assert.Contains("15 minutes", expiry.Detail);
        var privileges = Assert.Single(findings, f => f.Check == "privileges");
        Assert.Equal(ReadinessLevel.Error, privileges.Level);
        Assert.Equal("GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'limited'@'localhost';", privileges.Fix);
        Assert.DoesNotContain(findings, f => (f.Detail + f.Fix).Contains("pw-limited"));
    }

    [Fact]
    public void ARedisUserWithoutSyncIsNotReady()
    {
        using var dir = new TempDirectory();
        using var redis = RedisServer.Start(dir.Combine("redis"));
        redis.Command("ACL SETUSER reader on >reader-pw ~* +@read +ping +info +acl");
        var findings = Run(new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = redis.Port, User = "reader" }, "reader-pw", dir.Path);
        var sync = Assert.Single(findings, f => f.Check == "ACL SYNC");
        Assert.Equal(ReadinessLevel.Error, sync.Level);
        Assert.Contains("+sync", sync.Fix);
    }

    [Fact]
    public void AMissingSnapshotRepositoryIsNotReadyAndARegisteredOneVerifies()
    {
        using var dir = new TempDirectory();
        using var es = FakeElasticsearch.Start();
        var target = new TargetPolicy { Name = "search", Engine = TargetEngine.Elasticsearch, Url = es.Url, SnapshotRepository = "backups" };
        Assert.Equal(ReadinessLevel.Error, Assert.Single(Run(target, null, dir.Path)).Level);
        es.Repositories["backups"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "fs" };
        var ok = Assert.Single(Run(target, null, dir.Path));
        Assert.Equal(ReadinessLevel.Ok, ok.Level);
        Assert.Contains("verifies on 1 node", ok.Detail);
    }

    [Theory]
    [InlineData("*/15 * * * *", 15)]
    [InlineData("0 2 * * *", 24 * 60)]
    [InlineData("0 */6 * * *", 6 * 60)]
    public void TheArchiveIntervalIsTheLongestGapOfTheSchedule(string cron, int minutes) =>
        Assert.Equal(TimeSpan.FromMinutes(minutes), ReadinessCheck.LongestGap(cron));
}
