using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Model;
using BackupTools.TestServers;
using StackExchange.Redis;

namespace BackupTools.Tests;

/// <summary>
/// Current releases, for real: Redis 8.0 (RDB 12: hash fields with their own TTL, listpack and hash table) and
/// Valkey 8.0 (RDB 11), with streams and consumer groups and function libraries. Each is backed up with the engine,
/// restored into the same release, and compared value by value; the per-database counts are checked against what the
/// server itself says. The binaries come from tools/newer-servers.sh (<see cref="NewerServers"/>): when they cannot be
/// found or fetched these tests fail.
/// </summary>
public sealed class NewerRedisReleaseTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly List<RedisServer> _servers = [];

    public void Dispose()
    {
        foreach (var s in _servers) s.Dispose();
        _dir.Dispose();
    }

    private RedisServer Server(string program, string name)
    {
        var s = RedisServer.StartProgram(program, _dir.Combine(name));
        _servers.Add(s);
        return s;
    }

    private static TargetPolicy Target(RedisServer s) => new()
    {
        Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = s.Port, DataDir = s.BaseDirectory,
        StartCommand = s.CommandLine(daemonize: true),
    };

    private BackupRequest Request(RedisServer s) => new() { RepositoryRoot = _dir.Combine("repo"), Target = Target(s) };

    [Fact]
    public Task Redis80RoundTripKeepsHashFieldTtlsStreamsAndFunctions() => RoundTripAsync(NewerServers.Redis8Server, fieldTtls: true, expectedRdb: "RDB 12");

    [Fact]
    public Task Valkey80RoundTripKeepsStreamsAndFunctions() => RoundTripAsync(NewerServers.ValkeyServer, fieldTtls: false, expectedRdb: "RDB 11");

    private async Task RoundTripAsync(string program, bool fieldTtls, string expectedRdb)
    {
        var source = Server(program, "source");
        await PopulateAsync(source, fieldTtls);
        var expected = await CountAsync(source, fieldTtls);
        if (fieldTtls) Assert.Contains(expected, d => d.FieldsWithTtl > 0);

        var attempt = await RedisBackup.RunAsync(Request(source), RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(attempt.Error);
        Assert.Equal(CheckDepth.Full, attempt.Record.Checked);
        Assert.Null(attempt.Record.Warning);
        Assert.Equal(expectedRdb, attempt.Record.ToolVersion);
        Assert.Equal(expected, attempt.Record.Keyspace);

        // Into a new server of the same release, from -Destination.
        var restored = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Target = Target(source), PointInTime = DateTime.UtcNow, Destination = _dir.Combine("copy"),
        }, CancellationToken.None);
        Assert.True(restored.Validated);
        var copy = Server(program, "copy");
        await RedisData.AssertSameDataAsync(source, copy, fieldTtls, functions: true);
        Assert.Equal(expected, await CountAsync(copy, fieldTtls));
        await using (var mux = await RedisData.ConnectAsync(copy))
            Assert.Equal("restored", (string?)await mux.GetDatabase().ExecuteAsync("FCALL", "answer", 0));

        // Into the running server, with -Replace, after it lost everything (functions too).
        source.Command("FLUSHALL");
        source.Command("FUNCTION FLUSH");
        var replaced = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Target = Target(source), PointInTime = DateTime.UtcNow, Replace = true,
        }, CancellationToken.None);
        Assert.True(replaced.Validated, replaced.Validation);
        await RedisData.AssertSameDataAsync(copy, source, fieldTtls, functions: true);
    }

    [Fact]
    public async Task ARestoreIntoAServerOlderThanTheDumpFailsBeforeTouchingItNamingBothVersions()
    {
        var redis8 = Server(NewerServers.Redis8Server, "redis8");
        redis8.Command("SET from-redis-8 yes");
        Assert.Null((await RedisBackup.RunAsync(Request(redis8), RedisBackupMethod.Replication, CancellationToken.None)).Error);
        var dumpVersion = Info(redis8, "redis_version");

        foreach (var (program, name, versionField) in new[] { (ServerBinaries.Require("redis-server", "redis-server"), "Redis", "redis_version"), (NewerServers.ValkeyServer, "Valkey", "valkey_version") })
        {
            var older = Server(program, name.ToLowerInvariant());
            older.Command("SET still-here yes");
            var e = await Assert.ThrowsAsync<RedisRestoreException>(() => RedisRestore.RunAsync(new RedisRestoreRequest
            {
                RepositoryRoot = _dir.Combine("repo"), Target = Target(older), PointInTime = DateTime.UtcNow, Replace = true,
            }, CancellationToken.None));
            Assert.Contains($"RDB 12 (written by Redis {dumpVersion})", e.Message);
            Assert.Contains($"{name} {Info(older, versionField)}", e.Message);
            Assert.Contains("Nothing was touched", e.Message);
            Assert.Contains("yes", older.Command("GET still-here")); // still up, on its own data
            Assert.Empty(Directory.GetFileSystemEntries(older.BaseDirectory, "*before-restore*"));
        }
    }

    private static string Info(RedisServer s, string field) =>
        s.Command("INFO server").Split("\r\n").Single(l => l.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..];

    /// <summary>
    /// Two databases of every type; streams with groups, consumers and pending entries; a function library; with
    /// <paramref name="fieldTtls"/> hash fields with their own TTL in a small (listpack) hash, a large one (more fields
    /// than hash-max-listpack-entries: a hash table) and one whose key has a TTL too.
    /// </summary>
    private static async Task PopulateAsync(RedisServer s, bool fieldTtls)
    {
        await using var mux = await RedisData.ConnectAsync(s);
        await mux.GetDatabase().ExecuteAsync("FUNCTION", "LOAD", "#!lua name=backuptools\nredis.register_function('answer', function(keys, args) return 'restored' end)");
        var listpackLimit = long.Parse((string)((RedisResult[])(await mux.GetDatabase().ExecuteAsync("CONFIG", "GET", "hash-max-listpack-entries"))!)[1]!);
        foreach (var dbIndex in new[] { 0, 4 })
        {
            var db = mux.GetDatabase(dbIndex);
            var tasks = new List<Task>();
            for (var i = 0; i < 200; i++)
                tasks.Add((i % 5) switch
                {
                    0 => db.StringSetAsync($"s:{i}", $"value {i}", i % 10 == 0 ? new Expiration(TimeSpan.FromHours(3)) : Expiration.Default),
                    1 => db.ListRightPushAsync($"l:{i}", [i, "two"]),
                    2 => db.SetAddAsync($"t:{i}", [i, "x"]),
                    3 => db.SortedSetAddAsync($"z:{i}", [new SortedSetEntry("a", i)]),
                    _ => db.HashSetAsync($"h:{i}", [new HashEntry("f", i)]),
                });
            for (var i = 0; i < 30; i++) tasks.Add(db.StreamAddAsync("events", [new NameValueEntry("n", i)]));
            await Task.WhenAll(tasks);
            await db.StreamCreateConsumerGroupAsync("events", "workers", "0-0");
            await db.StreamCreateConsumerGroupAsync("events", "audit", "0-0");
            var read = await db.StreamReadGroupAsync("events", "workers", "w1", ">", 10);
            await db.StreamReadGroupAsync("events", "workers", "w2", ">", 5);
            await db.StreamReadGroupAsync("events", "audit", "a1", ">", 3);
            await db.StreamAcknowledgeAsync("events", "workers", read.Take(4).Select(e => e.Id).ToArray());
            if (!fieldTtls) continue;

            // Small hash (listpack with TTLs), long enough values that the dump compresses it with LZF.
            await db.HashSetAsync("hash-small", Enumerable.Range(0, 6).Select(i => new HashEntry($"field-number-{i}", $"value-value-value-{i}")).ToArray());
            await db.ExecuteAsync("HEXPIRE", "hash-small", 3600, "FIELDS", 2, "field-number-0", "field-number-3");
            await db.ExecuteAsync("HSETEX", "hash-new", "PX", 7_200_000, "FIELDS", 2, "a", "1", "b", "2");
            // Large hash (a hash table with metadata), fields with different TTLs.
            await db.HashSetAsync("hash-large", Enumerable.Range(0, (int)listpackLimit + 200).Select(i => new HashEntry($"f{i}", $"v{i}")).ToArray());
            for (var i = 0; i < 10; i++) await db.ExecuteAsync("HPEXPIRE", "hash-large", 3_600_000 + i * 60_000, "FIELDS", 1, $"f{i * 7}");
            await db.HashSetAsync("hash-both", [new HashEntry("x", 1), new HashEntry("y", 2)]);
            await db.KeyExpireAsync("hash-both", TimeSpan.FromHours(5));
            await db.ExecuteAsync("HEXPIRE", "hash-both", 1800, "FIELDS", 1, "y");
        }
    }

    /// <summary>What the server itself holds per database: keys (DBSIZE), keys with a TTL (PTTL), hash fields with a TTL (HPEXPIRETIME).</summary>
    private static async Task<List<KeyspaceDatabase>> CountAsync(RedisServer s, bool fieldTtls)
    {
        await using var mux = await RedisData.ConnectAsync(s);
        var server = mux.GetServer(mux.GetEndPoints()[0]);
        var result = new List<KeyspaceDatabase>();
        for (var dbIndex = 0; dbIndex < 16; dbIndex++)
        {
            var db = mux.GetDatabase(dbIndex);
            var keys = server.Keys(dbIndex, pageSize: 5000).ToList();
            if (keys.Count == 0) continue;
            long withTtl = 0, fields = 0;
            foreach (var key in keys)
            {
                if (await db.KeyTimeToLiveAsync(key) is not null) withTtl++;
                if (!fieldTtls || await db.KeyTypeAsync(key) != RedisType.Hash) continue;
                var names = (await db.HashKeysAsync(key)).Select(n => (string)n!).ToList();
                fields += (await RedisData.FieldExpiryTimesAsync(db, key!, names)).Count(t => t >= 0);
            }
            Assert.Equal(await server.DatabaseSizeAsync(dbIndex), keys.Count);
            result.Add(new KeyspaceDatabase(dbIndex, keys.Count, withTtl, fields));
        }
        return result;
    }
}
