namespace BackupTools.TestServers;

/// <summary>
/// The servers one test run shares: started once, stopped by PID at the end, all under one temp directory.
/// A missing server program makes Start throw (the tests fail, naming the package); nothing is skipped.
/// </summary>
public sealed class TestServerSet : IDisposable
{
    private TestServerSet(string root, MariaDbServer mariaDb, RedisServer redis, FakeElasticsearch elastic)
    {
        Root = root;
        MariaDb = mariaDb;
        Redis = redis;
        Elasticsearch = elastic;
    }

    public string Root { get; }
    public MariaDbServer MariaDb { get; }
    public RedisServer Redis { get; }
    public FakeElasticsearch Elasticsearch { get; }

    public static TestServerSet Start()
    {
        var root = Path.Combine(Path.GetTempPath(), "backuptools-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var started = new List<IDisposable>();
        try
        {
            var maria = MariaDbServer.Start(Path.Combine(root, "mariadb"));
            started.Add(maria);
            var redis = RedisServer.Start(Path.Combine(root, "redis"));
            started.Add(redis);
            var elastic = FakeElasticsearch.Start();
            return new TestServerSet(root, maria, redis, elastic);
        }
        catch
        {
            foreach (var s in started) s.Dispose();
            throw;
        }
    }

    /// <summary>A policy file for these servers (mariadb password from <paramref name="passwordVariable"/>).</summary>
    public string WritePolicy(string directory, string passwordVariable)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "policy.yml");
        File.WriteAllText(path, $"""
            repository: {Path.Combine(directory, "repo")}
            targets:
              main-db:
                engine: mariadb
                host: 127.0.0.1
                port: {MariaDb.Port}
                socket: {MariaDb.Socket}
                user: {MariaDbServer.BackupUser}
                passwordEnv: {passwordVariable}
                dataDir: {MariaDb.DataDirectory}
                schedule: {"{"} full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" {"}"}
                retention: {"{"} full: 30d, incremental: 7d, binlog: 14d {"}"}
              cache:
                engine: redis
                host: 127.0.0.1
                port: {Redis.Port}
                schedule: {"{"} snapshot: "0 * * * *" {"}"}
                retention: {"{"} snapshot: 7d {"}"}
              search:
                engine: elasticsearch
                url: {Elasticsearch.Url}
                snapshotRepository: backups
                indices: ["*"]
                schedule: {"{"} snapshot: "0 3 * * *" {"}"}
                retention: {"{"} snapshot: 30d {"}"}
            storage: {"{"} warningFreePercent: 20, criticalFreePercent: 10 {"}"}
            alerts:
              delayGrace: 1h
              channels: {"{"}{"}"}
            """);
        return path;
    }

    public void Dispose()
    {
        Elasticsearch.Dispose();
        Redis.Dispose();
        MariaDb.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
