using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// The walker on formats no server here writes, made by hand: newer than it knows (kept on the CRC-64 with a warning,
/// unless damaged or cut), Valkey 9's hash type and slot opcodes, Redis 7.4's release-candidate hash types. Backups go
/// through the engine for real: a real redis-server runs BGSAVE, and the policy's dataDir holds the hand-made dump the
/// engine then copies, as it would one a newer server wrote.
/// </summary>
public sealed class RdbWalkerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly List<RedisServer> _servers = [];

    public void Dispose()
    {
        foreach (var s in _servers) s.Dispose();
        _dir.Dispose();
    }

    /// <summary>A dump as a server newer than the walker might write it: two known keys around a value of type 26.</summary>
    private static byte[] DumpWithUnknownType(bool checksum = true) =>
        new RdbBuilder("REDIS0012").Aux("redis-ver", "8.9.0").Type(0xFE).Length(0).Type(0xFB).Length(3).Length(0)
            .StringKey("before", "known")
            .Type(26).String("future-key").Length(3).String("part one of a future value").String("part two").String("part three")
            .StringKey("after", "also known")
            .Finish(checksum);

    /// <summary>Backs up <paramref name="dump"/> as the dump a real server's BGSAVE produced (the engine copies dataDir/dump.rdb).</summary>
    private async Task<(BackupAttempt Attempt, List<string> Warnings)> BackUpAsync(byte[] dump)
    {
        var server = RedisServer.Start(_dir.Combine("server"));
        _servers.Add(server);
        var served = _dir.Combine("served");
        Directory.CreateDirectory(served);
        await File.WriteAllBytesAsync(Path.Combine(served, "dump.rdb"), dump);
        var warnings = new List<string>();
        var request = new BackupRequest
        {
            RepositoryRoot = _dir.Combine("repo"), Warn = warnings.Add,
            Target = new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = server.Port, DataDir = served },
        };
        return (await RedisBackup.RunAsync(request, RedisBackupMethod.Bgsave, CancellationToken.None), warnings);
    }

    [Fact]
    public async Task ADumpWithAValueTypeNewerThanTheWalkerIsKeptOnItsChecksumWithAWarning()
    {
        var (attempt, warnings) = await BackUpAsync(DumpWithUnknownType());
        Assert.Null(attempt.Error);
        Assert.Equal(BackupOutcome.Succeeded, attempt.Record.Status);
        Assert.Equal(CheckDepth.Checksum, attempt.Record.Checked);
        Assert.Contains("value type 26", attempt.Record.Warning);
        Assert.Contains("CRC-64 over the whole dump matches", attempt.Record.Warning);
        Assert.Null(attempt.Record.Keyspace); // not walked: no counts rather than wrong ones
        Assert.Equal(attempt.Record.Warning, Assert.Single(warnings)[("cache: ".Length)..]);
        var entry = BackupCatalog.List(_dir.Combine("repo"), "redis", "cache").Single();
        Assert.Equal("Checksum", entry.Manifest.EngineFields[RedisFields.Checked]);
        Assert.False(entry.Manifest.EngineFields.ContainsKey(RedisFields.TotalKeys));
        // Get-DbBackup reads the same record back from the manifest.
        var listed = BackupRecords.FromCatalog(entry, null);
        Assert.Equal(CheckDepth.Checksum, listed.Checked);
        Assert.Equal(attempt.Record.Warning, listed.Warning);
        // And the status says so until BackupTools is updated: a backup, but not one whose keys were counted.
        var (policy, problems) = BackupTools.Engine.Policy.PolicyParser.Parse(
            $"repository: {_dir.Combine("repo")}\ntargets:\n  cache: {{ engine: redis, host: 127.0.0.1, port: 1, schedule: {{ snapshot: \"0 * * * *\" }} }}\n", "/p.yml");
        Assert.Empty(problems);
        var status = BackupTools.Engine.Status.StatusService.Collect(policy!, policy!.Targets, DateTime.UtcNow).Backups.Single();
        Assert.Equal(AlertSeverity.Warning, status.Severity);
        Assert.Contains("kept on its checksum only", status.Message);
    }

    [Fact]
    public async Task TheSameDumpWithOneFlippedByteIsAFailedBackup()
    {
        var dump = DumpWithUnknownType();
        var at = dump.AsSpan().IndexOf("part two"u8);
        Assert.True(at > 0);
        dump[at] ^= 0x20; // inside the value the walker cannot read: only the CRC-64 can tell
        var (attempt, _) = await BackUpAsync(dump);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.Contains("CRC-64 does not match", Assert.IsType<RdbFormatException>(attempt.Error).Message);
        Assert.Empty(BackupCatalog.List(_dir.Combine("repo"), "redis", "cache"));
    }

    [Theory]
    [InlineData(1)]   // only the checksum's last byte missing
    [InlineData(9)]   // the checksum and the end marker
    [InlineData(30)]  // into the value after the unknown one
    public async Task TheSameDumpCutShortIsAFailedBackup(int cut)
    {
        var dump = DumpWithUnknownType();
        var (attempt, _) = await BackUpAsync(dump[..^cut]);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.Contains("cut short", Assert.IsType<RdbFormatException>(attempt.Error).Message);
        Assert.Empty(BackupCatalog.List(_dir.Combine("repo"), "redis", "cache"));
    }

    [Fact]
    public async Task ANewerDumpWithoutAChecksumIsKeptWithOnlyItsHeaderCheckedAndSaysSo()
    {
        var (attempt, _) = await BackUpAsync(DumpWithUnknownType(checksum: false));
        Assert.Equal(BackupOutcome.Succeeded, attempt.Record.Status);
        Assert.Equal(CheckDepth.Header, attempt.Record.Checked);
        Assert.Contains("no CRC-64", attempt.Record.Warning);
    }

    [Theory]
    [InlineData("REDIS0013", "RDB 13")]
    [InlineData("VALKEY081", "Valkey RDB 81")]
    public void AnRdbVersionNewerThanTheWalkerIsReadToItsEndAndKeptOnItsChecksum(string magic, string named)
    {
        var dump = new RdbBuilder(magic).Aux("redis-ver", "99.0.0").Type(0xFE).Length(0).StringKey("k", "v").Finish();
        var summary = RdbInspector.Inspect(new MemoryStream(dump));
        Assert.Equal(CheckDepth.Checksum, summary.Checked);
        Assert.Contains(named, summary.Unwalked);
        Assert.Empty(summary.Databases);
        Assert.Equal(dump.Length, summary.Bytes);
        dump[12] ^= 1;
        Assert.Contains("CRC-64 does not match", Assert.Throws<RdbFormatException>(() => RdbInspector.Inspect(new MemoryStream(dump))).Message);
    }

    [Fact]
    public void AValkey9DumpIsWalkedWithItsHashFieldTtlsSlotOpcodesAndFunctions()
    {
        var inAnHour = DateTime.UtcNow.AddHours(1);
        var ms = (ulong)new DateTimeOffset(inAnHour).ToUnixTimeMilliseconds();
        var dump = new RdbBuilder("VALKEY080").Aux("valkey-ver", "9.0.0").Aux("redis-bits", "64")
            .Type(245).String("#!lua name=lib\nserver.register_function('f', function() return 1 end)")
            .Type(0xFE).Length(0).Type(0xFB).Length(3).Length(1)
            .Type(244).Length(866).Length(2).Length(1)                         // slot info: slot, keys, expires
            .Type(243).String(new string('a', 40)).Length(2).Length(0).Length(99).Length(200).Length(300) // slot import: job, 2 ranges
            .StringKey("plain", "v", inAnHour)
            .Type(22).String("fields").Length(3)                               // HASH_2: field, value, expiry in ms (-1: none)
            .String("f1").String("v1").UInt64(ms)
            .String("f2").String("v2").UInt64(ulong.MaxValue)
            .String("f3").String("v3").UInt64(ms + 1000)
            .Type(0xFE).Length(5).StringKey("other", "x")
            .Finish();
        var summary = RdbInspector.Inspect(new MemoryStream(dump));
        Assert.Equal(CheckDepth.Full, summary.Checked);
        Assert.Equal(new RdbHeader(RdbDialect.Valkey, 80), summary.Header);
        Assert.Equal("Valkey 9.0.0", summary.WrittenBy);
        Assert.Equal([new RdbDatabase(0, 2, 1, DateTimeOffset.FromUnixTimeMilliseconds((long)ms).UtcDateTime, 2), new RdbDatabase(5, 1, 0, null, 0)], summary.Databases);
    }

    [Fact]
    public void TheSameTypeNumberMeansRedis74sReleaseCandidateHashInARedisDump()
    {
        var ms = (ulong)DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        var dump = new RdbBuilder("REDIS0012").Aux("redis-ver", "7.4.0").Type(0xFE).Length(0)
            .Type(22).String("meta").Length(2).Length(ms).String("f1").String("v1").Length(0).String("f2").String("v2") // TTL, field, value
            .Type(23).String("lp").String(RdbBuilder.Listpack("a", "1", (long)ms, "b", "2", 0L, "c", "3", (long)ms))
            .Type(25).String("lpex").UInt64(ms).String(RdbBuilder.Listpack("a", "1", 0L))
            .Type(24).String("ht").UInt64(ms).Length(2).Length(1).String("x").String("1").Length(0).String("y").String("2")
            .Finish();
        var summary = RdbInspector.Inspect(new MemoryStream(dump));
        Assert.Equal(CheckDepth.Full, summary.Checked);
        var db = Assert.Single(summary.Databases);
        Assert.Equal(4, db.Keys);
        Assert.Equal(1 + 2 + 0 + 1, db.FieldExpires);
    }

    [Fact]
    public void ARedis72DumpWithAHashTypeOfRedis74IsNotMisreadAsOne()
    {
        // RDB 11 has no type 24: a server that writes one in RDB 11 is one the walker does not know, not Redis 7.4.
        var dump = new RdbBuilder("REDIS0011").Type(0xFE).Length(0)
            .Type(24).String("ht").UInt64(1).Length(1).Length(1).String("x").String("1").Finish();
        var summary = RdbInspector.Inspect(new MemoryStream(dump));
        Assert.Equal(CheckDepth.Checksum, summary.Checked);
        Assert.Contains("value type 24", summary.Unwalked);
    }

    [Fact]
    public async Task ARestoreOfADumpNewerThanTheWalkerIsNotBlockedWhenItsCrcIsRight()
    {
        var dump = DumpWithUnknownType();
        var (attempt, _) = await BackUpAsync(dump);
        Assert.Null(attempt.Error);
        var warnings = new List<string>();
        var result = await RedisRestore.RunAsync(new RedisRestoreRequest
        {
            RepositoryRoot = _dir.Combine("repo"), PointInTime = DateTime.UtcNow, Destination = _dir.Combine("restored"), Warn = warnings.Add,
            Target = new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = 1 },
        }, CancellationToken.None);
        Assert.True(result.Validated);
        Assert.Contains("CRC-64", result.Validation);
        Assert.Contains("value type 26", Assert.Single(warnings));
        Assert.Equal(dump, await File.ReadAllBytesAsync(_dir.Combine("restored", "dump.rdb")));
    }
}
