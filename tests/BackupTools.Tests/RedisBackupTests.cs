using System.Text;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;
using StackExchange.Redis;

namespace BackupTools.Tests;

/// <summary>Redis snapshots against real redis-server processes: dump, check, restore into a new server, -Replace on AOF.</summary>
public sealed class RedisBackupTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly List<RedisServer> _servers = [];

    public void Dispose()
    {
        foreach (var s in _servers) s.Dispose();
        _dir.Dispose();
    }

    private RedisServer Server(string name, params string[] args)
    {
        var s = RedisServer.Start(_dir.Combine(name), args);
        _servers.Add(s);
        return s;
    }

    private static TargetPolicy Target(RedisServer s, string? user = null) => new()
    {
        Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = s.Port, User = user, DataDir = s.BaseDirectory,
        StartCommand = s.CommandLine(daemonize: true),
    };

    private BackupRequest Request(TargetPolicy target, string? password = null) =>
        new() { RepositoryRoot = _dir.Combine("repo"), Target = target, Password = password };

    private static Task<ConnectionMultiplexer> ConnectAsync(RedisServer s, string? password = null) => RedisData.ConnectAsync(s, password);

    /// <summary>Keys of every type in three databases, some with TTLs, some large enough for non-compact encodings.</summary>
    private static async Task PopulateAsync(RedisServer s, int keysPerDb, string? password = null)
    {
        await using var mux = await ConnectAsync(s, password);
        foreach (var dbIndex in new[] { 0, 3, 7 })
        {
            var db = mux.GetDatabase(dbIndex);
            var tasks = new List<Task>();
            for (var i = 0; i < keysPerDb; i++)
            {
                var k = $"k:{dbIndex}:{i}";
                tasks.Add((i % 6) switch
                {
                    0 => db.StringSetAsync("s" + k, $"value {i} " + new string((char)('a' + i % 26), i % 50), i % 12 == 0 ? new Expiration(TimeSpan.FromHours(2)) : Expiration.Default),
                    1 => db.ListRightPushAsync("l" + k, [i, "two", "three"]),
                    2 => db.SetAddAsync("t" + k, [i, i + 1, "x"]),
                    3 => db.SortedSetAddAsync("z" + k, [new SortedSetEntry("a", i), new SortedSetEntry("b", -i / 3.0)]),
                    4 => db.HashSetAsync("h" + k, [new HashEntry("f", i), new HashEntry("g", "text")]),
                    _ => db.StringSetAsync("n" + k, i), // integer-encoded
                });
            }
            tasks.Add(db.HashSetAsync("big-hash", Enumerable.Range(0, 2000).Select(i => new HashEntry($"field{i}", new string('v', 100))).ToArray()));
            tasks.Add(db.ListRightPushAsync("big-list", Enumerable.Range(0, 20000).Select(i => (RedisValue)$"item {i}").ToArray()));
            tasks.Add(db.SetAddAsync("big-set", Enumerable.Range(0, 2000).Select(i => (RedisValue)$"member {i}").ToArray()));
            tasks.Add(db.SetAddAsync("int-set", Enumerable.Range(0, 300).Select(i => (RedisValue)i).ToArray()));
            tasks.Add(db.SortedSetAddAsync("big-zset", Enumerable.Range(0, 2000).Select(i => new SortedSetEntry($"m{i}", i * 0.5)).ToArray()));
            tasks.Add(db.StringSetAsync("compressible", new string('x', 10000))); // LZF in the dump
            for (var i = 0; i < 20; i++) tasks.Add(db.StreamAddAsync("stream", [new NameValueEntry("n", i), new NameValueEntry("t", "event")]));
            await Task.WhenAll(tasks);
            await db.StreamCreateConsumerGroupAsync("stream", "workers", "0-0");
            await db.StreamReadGroupAsync("stream", "workers", "w1", ">", 5); // a pending entries list and a consumer
        }
    }

    [Fact]
    public async Task ADumpOfNoKeysAfterOneWithKeysIsAFailureUnlessTheTargetAllowsEmpty()
    {
        var server = Server("emptied");
        var first = await RedisBackup.RunAsync(Request(Target(server)), RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(first.Error); // empty and never had keys: nothing to compare with, so it counts
        server.Command("SET k v");
        Assert.Null((await RedisBackup.RunAsync(Request(Target(server)), RedisBackupMethod.Replication, CancellationToken.None)).Error);
        server.Command("FLUSHALL");
        var emptied = await RedisBackup.RunAsync(Request(Target(server)), RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Equal(BackupOutcome.Failed, emptied.Record.Status);
        Assert.Contains("0 keys", Assert.IsType<EmptyBackupException>(emptied.Error).Message);
        Assert.Equal(2, BackupCatalog.List(_dir.Combine("repo"), "redis", "cache").Count);
        Assert.Null((await RedisBackup.RunAsync(Request(Target(server) with { AllowEmpty = true }), RedisBackupMethod.Replication, CancellationToken.None)).Error);
    }

    [Fact]
    public void Crc64HasRedisCheckValue() =>
        Assert.Equal(0xe9c6d914c4b8d9caUL, Crc64.Compute("123456789"u8));

    [Fact]
    public async Task ARemoteDumpOfOver100kKeysRestoresIntoANewServerWithEveryValueAndTtl()
    {
        var source = Server("source");
        await PopulateAsync(source, 34_000);
        var attempt = await RedisBackup.RunAsync(Request(Target(source)), RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(attempt.Error);
        var entry = BackupCatalog.List(_dir.Combine("repo"), "redis", "cache").Single();
        var databases = RedisFields.ReadDatabases(entry.Manifest.EngineFields);
        Assert.Equal([0, 3, 7], databases.Select(d => d.Index));
        Assert.All(databases, d => Assert.Equal(34_000 + 7, d.Keys));
        Assert.True(databases.Sum(d => d.Keys) >= 100_000);
        Assert.Equal("false", entry.Manifest.EngineFields["aofEnabled"]);
        Assert.StartsWith("7.", entry.Manifest.ServerVersion);

        var restored = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Target = Target(source), PointInTime = DateTime.UtcNow, Destination = _dir.Combine("new"),
        }, CancellationToken.None);
        Assert.True(restored.Validated);
        Assert.Equal(entry.Manifest.EndTime, restored.RestoredTo);
        Assert.Contains("snapshot precision", restored.Plan);
        var copy = Server("new");
        await RedisData.AssertSameDataAsync(source, copy);
    }

    [Fact]
    public async Task AnAofInstanceRestoredWithReplaceComesBackWithAllKeysAndKeepsThemAcrossARestart()
    {
        var server = Server("aof", "--appendonly", "yes");
        await PopulateAsync(server, 2_000);
        Assert.Null((await RedisBackup.RunAsync(Request(Target(server)), RedisBackupMethod.Replication, CancellationToken.None)).Error);
        await using (var mux = await ConnectAsync(server))
        {
            await mux.GetServer(mux.GetEndPoints()[0]).FlushAllDatabasesAsync();
            await mux.GetDatabase(0).StringSetAsync("written-after-the-backup", "x");
        }
        var result = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Target = Target(server), PointInTime = DateTime.UtcNow, Replace = true,
        }, CancellationToken.None);
        Assert.True(result.Validated);
        Assert.Contains("appendonlydir.before-restore-", result.PreviousDataDirectory);
        Assert.True(File.Exists(Path.Combine(server.BaseDirectory, "appendonlydir", "appendonly.aof.1.base.rdb")));
        Assert.Contains("aof_enabled:1", server.Command("INFO persistence"));

        // The trap: restarted once more, an AOF instance must load from its AOF, not start empty.
        server.Command("SHUTDOWN");
        await Task.Delay(300);
        var restart = server.CommandLine(daemonize: true);
        ChildProcessRun(restart);
        await WaitForRedisAsync(server);
        await using (var mux = await ConnectAsync(server))
        {
            Assert.False(await mux.GetDatabase(0).KeyExistsAsync("written-after-the-backup"));
            Assert.Equal(2_000 + 7, await mux.GetServer(mux.GetEndPoints()[0]).DatabaseSizeAsync(3));
        }
    }

    private static void ChildProcessRun(IReadOnlyList<string> command)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(command[0]);
        foreach (var a in command.Skip(1)) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.WaitForExit();
    }

    private static async Task WaitForRedisAsync(RedisServer s)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try { if (s.Command("INFO persistence").Contains("loading:0")) return; }
            catch (System.Net.Sockets.SocketException) { }
            await Task.Delay(50);
        }
        throw new TimeoutException("redis did not come back");
    }

    [Fact]
    public async Task AUnixSocketTargetIsProbedBackedUpAndReplacedThroughItsSocket()
    {
        var sock = _dir.Combine("unix", "redis.sock");
        Directory.CreateDirectory(_dir.Combine("unix"));
        var server = Server("unix", "--unixsocket", sock, "--unixsocketperm", "700");
        server.Command("SET through socket");
        var target = Target(server) with { Host = null, Port = null, Socket = sock };
        Assert.Equal("unix:" + sock, target.Endpoint);

        var check = await BackupTools.Engine.Targets.TargetProbe.CheckAsync(target, null, TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.True(check.Reachable, check.Error);
        Assert.Null((await RedisBackup.RunAsync(Request(target), RedisBackupMethod.Replication, CancellationToken.None)).Error);
        server.Command("FLUSHALL");
        var result = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Target = target, PointInTime = DateTime.UtcNow, Replace = true,
        }, CancellationToken.None);
        Assert.True(result.Validated);
        Assert.Contains("socket", server.Command("GET through"));
    }

    [Fact]
    public async Task AWrongPasswordIsAFailedRecordThatSaysWhatToCheck()
    {
        var server = Server("auth", "--requirepass", "right-secret");
        var attempt = await RedisBackup.RunAsync(Request(Target(server), "wrong-secret"), RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.IsType<RedisAuthException>(attempt.Error);
        Assert.Contains("refused the login", attempt.Error!.Message);
        Assert.Contains("passwordEnv", attempt.Error.Message);
        Assert.DoesNotContain("wrong-secret", attempt.Error.Message);
        Assert.Empty(BackupCatalog.List(_dir.Combine("repo"), "redis", "cache"));
        Assert.Null((await RedisBackup.RunAsync(Request(Target(server), "right-secret"), RedisBackupMethod.Replication, CancellationToken.None)).Error);
    }

    [Fact]
    public async Task AUserWithoutReplicationRightsIsToldWhichRightsToGrant()
    {
        var server = Server("acl");
        server.Command("ACL SETUSER reader on >reader-pw ~* +@read +info +ping +auth +replconf");
        var attempt = await RedisBackup.RunAsync(Request(Target(server, user: "reader"), "reader-pw"), RedisBackupMethod.Replication, CancellationToken.None);
        var e = Assert.IsType<RedisPermissionException>(attempt.Error);
        Assert.Contains("ACL SETUSER reader +sync +psync +replconf", e.Message);
        Assert.Contains("-Method Bgsave", e.Message);
        Assert.Empty(BackupCatalog.List(_dir.Combine("repo"), "redis", "cache"));
    }

    [Fact]
    public async Task BgsaveCopiesTheServersOwnDumpAndChecksIt()
    {
        var server = Server("bgsave");
        await PopulateAsync(server, 500);
        var attempt = await RedisBackup.RunAsync(Request(Target(server)), RedisBackupMethod.Bgsave, CancellationToken.None);
        Assert.Null(attempt.Error);
        var entry = BackupCatalog.List(_dir.Combine("repo"), "redis", "cache").Single();
        Assert.Equal("Bgsave", entry.Manifest.EngineFields["method"]);
        Assert.Equal((500 + 7) * 3, long.Parse(entry.Manifest.EngineFields["keys"]));
    }

    [Fact]
    public async Task AFailingBgsaveIsAFailedRecordNamingTheUsualCauses()
    {
        var server = Server("bgsave-fails", "--enable-protected-configs", "yes");
        var gone = _dir.Combine("gone");
        Directory.CreateDirectory(gone);
        server.Command($"CONFIG SET dir {gone}");
        Directory.Delete(gone); // the save's temporary file cannot be created: BGSAVE fails in the child
        var target = Target(server) with { DataDir = gone };
        var attempt = await RedisBackup.RunAsync(Request(target), RedisBackupMethod.Bgsave, CancellationToken.None);
        var e = Assert.IsType<RedisBackupException>(attempt.Error);
        Assert.Contains("rdb_last_bgsave_status:err", e.Message);
        Assert.Contains("fork: Cannot allocate memory", e.Message);
        Assert.Contains("MISCONF", e.Message);
        Assert.Empty(BackupCatalog.List(_dir.Combine("repo"), "redis", "cache"));
    }

    [Fact]
    public async Task ADamagedOrCutDumpFailsTheCheck()
    {
        var server = Server("damage");
        await PopulateAsync(server, 300);
        server.Command("SAVE");
        var bytes = await File.ReadAllBytesAsync(Path.Combine(server.BaseDirectory, "dump.rdb"));
        Assert.Equal((300 + 7) * 3, RdbInspector.Inspect(new MemoryStream(bytes)).TotalKeys);
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x01;
        var e = Assert.ThrowsAny<IOException>(() => RdbInspector.Inspect(new MemoryStream(flipped)));
        // Where the flipped bit lands depends on the random data: inside a value the CRC-64 catches it ("damaged"),
        // on a length or encoding byte the walk itself does (an RdbFormatException). Either way the dump is refused.
        Assert.True(e.Message.Contains("damaged") || e is RdbFormatException, e.Message);
        var cut = Assert.Throws<RdbFormatException>(() => RdbInspector.Inspect(new MemoryStream(bytes[..^100])));
        Assert.Contains("cut short", cut.Message);
    }

    [Fact]
    public void TheEofMarkIsHeldBackEvenWhenItArrivesInPieces()
    {
        var mark = new string('m', 39) + "z";
        var payload = Encoding.ASCII.GetBytes(new string('p', 100_000) + "END");
        // 7 bytes a read: the mark arrives in pieces, and the stream must neither pass any of it on nor read past it.
        var wire = new TrickleStream([.. payload, .. Encoding.ASCII.GetBytes(mark), .. "after"u8.ToArray()], 7);
        using var output = new MemoryStream();
        new EofMarkedStream(wire, mark).CopyTo(output);
        Assert.Equal(payload, output.ToArray());
    }

    /// <summary>Gives out at most <c>chunk</c> bytes per read, as a slow network does.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : ReadOnlyStream
    {
        private int _at;
        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(chunk, buffer.Length), data.Length - _at);
            data.AsSpan(_at, n).CopyTo(buffer);
            _at += n;
            return n;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));
    }
}
