using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using BackupTools.Engine.Repository;

namespace BackupTools.Tests;

public sealed class RepositoryTests
{
    private static byte[] Data(int size, int seed)
    {
        // Half random, half repetitive: compressible but not trivially.
        var data = new byte[size];
        new Random(seed).NextBytes(data.AsSpan(0, size / 2));
        for (var i = size / 2; i < size; i++) data[i] = (byte)(i % 7);
        return data;
    }

    [Theory]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.None)]
    public async Task StreamingWriterRoundTripsAndRecordsBothChecksums(CompressionKind kind)
    {
        using var dir = new TempDirectory();
        var data = Data(5_000_000, 1);
        var options = new CompressionOptions(kind, 3, 2);
        var path = dir.Combine("data" + options.FileSuffix);
        var written = await StreamingWriter.WriteAsync(new MemoryStream(data), path, options, null, CancellationToken.None);

        Assert.Equal(data.Length, written.RawBytes);
        Assert.Equal(new FileInfo(path).Length, written.StoredBytes);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant(), written.RawSha256);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant(), written.Sha256);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        if (kind == CompressionKind.Zstd) Assert.True(written.StoredBytes < written.RawBytes * 0.75);
        else Assert.Equal(written.RawBytes, written.StoredBytes);

        await using var back = StreamingWriter.OpenRead(path, written.Compression);
        var copy = new MemoryStream();
        await back.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ZstdOutputIsReadableByTheZstdProgramFromBothCompressors(bool managed)
    {
        // Where zstd is installed libzstd is too, and the writer must use it: it is the fast path the benchmark measures.
        Assert.True(NativeZstd.IsAvailable, "libzstd.so.1 did not load");
        using var dir = new TempDirectory();
        var data = Data(2_000_000, 2);
        var path = dir.Combine("x.zst");
        StreamingWriter.ForceManagedZstd = managed;
        try { await StreamingWriter.WriteAsync(new MemoryStream(data), path, CompressionOptions.Default, null, CancellationToken.None); }
        finally { StreamingWriter.ForceManagedZstd = false; }
        var output = dir.Combine("x");
        var zstd = TestServers.ServerBinaries.Require("zstd", "zstd");
        // -t first: the frame carries a content checksum (as the CLI writes), which the test verifies.
        using (var t = Process.Start(zstd, ["-q", "-t", "-v", path])) { t.WaitForExit(); Assert.Equal(0, t.ExitCode); }
        using (var p = Process.Start(zstd, ["-q", "-d", path, "-o", output])) p.WaitForExit();
        Assert.Equal(data, File.ReadAllBytes(output));
        await using var back = StreamingWriter.OpenRead(path, "zstd");
        var copy = new MemoryStream();
        await back.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ACutOffZstdFileIsAnErrorNotAShortRead(bool managed)
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("x.zst");
        await StreamingWriter.WriteAsync(new MemoryStream(Data(3_000_000, 3)), path, CompressionOptions.Default, null, CancellationToken.None);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        StreamingWriter.ForceManagedZstd = managed;
        try
        {
            await using var back = StreamingWriter.OpenRead(path, "zstd");
            await Assert.ThrowsAnyAsync<Exception>(() => back.CopyToAsync(Stream.Null));
        }
        finally { StreamingWriter.ForceManagedZstd = false; }
    }

    [Fact]
    public async Task CommittedSetHasManifestAndFinalNameAndIsListed()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        BackupManifest manifest;
        await using (var run = BackupRun.Start(root, "mariadb", "main-db", "full"))
        {
            await run.Writer.AddFileAsync("backup.mbstream", new MemoryStream(Data(100_000, 3)), CompressionOptions.Default, null, CancellationToken.None);
            await run.Writer.AddFileAsync("xtrabackup_checkpoints", new MemoryStream("to_lsn = 42\n"u8.ToArray()), CompressionOptions.None, null, CancellationToken.None);
            Assert.EndsWith(".partial", run.Writer.PartialPath);
            Assert.Empty(BackupCatalog.List(root));
            manifest = await run.CommitAsync(m => m with { ToolVersion = "mariabackup 10.11", EngineFields = new Dictionary<string, string> { ["toLsn"] = "42" } }, null, CancellationToken.None);
        }
        var set = Assert.Single(BackupCatalog.List(root));
        Assert.Equal(manifest.Id, set.Manifest.Id);
        Assert.Matches(@"^\d{8}T\d{6}Z-[0-9a-f]{8}$", set.Manifest.Id);
        Assert.Equal(Path.Combine(root, "mariadb", "main-db", "full", manifest.Id), set.Path);
        Assert.False(Directory.Exists(set.Path + ".partial"));
        Assert.Equal(2, set.Manifest.Files.Count);
        Assert.Equal("42", set.Manifest.EngineFields["toLsn"]);
        Assert.Equal(100_000 + 12, set.Manifest.RawBytes);
        Assert.Equal(set.Manifest.Files.Sum(f => f.StoredBytes), set.Manifest.StoredBytes);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(set.Path));

        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(set.Path, "manifest.json"))).RootElement;
        Assert.Equal(1, json.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("mariadb", json.GetProperty("engine").GetString());
        Assert.EndsWith("Z", json.GetProperty("startTime").GetString());
        Assert.Equal(64, json.GetProperty("files")[0].GetProperty("sha256").GetString()!.Length);

        var journal = Assert.Single(RunJournal.Read(root));
        Assert.Equal(("Succeeded", manifest.Id), (journal.Status, journal.Id));
    }

    [Fact]
    public async Task FailedRunPublishesNothingAndJournalsTheError()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        string partial;
        await using (var run = BackupRun.Start(root, "mariadb", "main-db", "full"))
        {
            partial = run.Writer.PartialPath;
            await run.Writer.AddFileAsync("backup.mbstream", new MemoryStream(Data(10_000, 4)), CompressionOptions.Default, null, CancellationToken.None);
            run.Fail(new InvalidOperationException("mariabackup: Access denied for user 'backup'"));
        }
        Assert.False(Directory.Exists(partial));
        Assert.Empty(BackupCatalog.List(root));
        var entry = Assert.Single(RunJournal.Read(root));
        Assert.Equal("Failed", entry.Status);
        Assert.Contains("Access denied", entry.Error);
        Assert.False(File.Exists(Path.Combine(root, "_locks", "mariadb-main-db.lock")));
    }

    [Fact]
    public async Task CorruptionBetweenWriteAndCommitIsCaughtAndNotPublished()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        await using var run = BackupRun.Start(root, "redis", "cache", "snapshot");
        var file = await run.Writer.AddFileAsync("dump.rdb", new MemoryStream(Data(50_000, 5)), CompressionOptions.None, null, CancellationToken.None);
        var path = Path.Combine(run.Writer.PartialPath, file.Name);
        var bytes = File.ReadAllBytes(path);
        bytes[1234] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        var e = await Assert.ThrowsAsync<BackupVerificationException>(() => run.CommitAsync(m => m, null, CancellationToken.None));
        Assert.Contains("dump.rdb", e.Message);
        Assert.Empty(BackupCatalog.List(root));
    }

    [Fact]
    public async Task PartialLeftByACrashIsNeverListedAndIsCleanedByTheNextRunOfThatTarget()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        // A crash: a partial with files (even a manifest) and a lock held by a dead process.
        var crashed = Path.Combine(root, "mariadb", "main-db", "full", "20261126T020000Z-deadbeef.partial");
        Directory.CreateDirectory(crashed);
        File.WriteAllText(Path.Combine(crashed, "manifest.json"), "{}");
        var other = Path.Combine(root, "mariadb", "other-db", "full", "20261126T020000Z-0000beef.partial");
        Directory.CreateDirectory(other);
        Assert.Empty(BackupCatalog.List(root));

        var log = new List<string>();
        await using (var run = BackupRun.Start(root, "mariadb", "main-db", "incremental", log.Add))
        {
            await run.CommitAsync(m => m, null, CancellationToken.None);
        }
        Assert.False(Directory.Exists(crashed));
        Assert.True(Directory.Exists(other), "another target's partial is that target's business");
        Assert.Contains(log, l => l.Contains("20261126T020000Z-deadbeef.partial"));
        Assert.Single(BackupCatalog.List(root));
    }

    [Fact]
    public void CatalogOfTenThousandSetsIsListedNewestFirstAndFiltered()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("repo");
        var start = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < 10_000; i++)
        {
            var time = start.AddMinutes(15 * i);
            var manifest = new BackupManifest
            {
                Id = BackupSetWriter.NewId(time), Engine = "mariadb", Target = $"db{i % 4}", Type = i % 3 == 0 ? "full" : "binlog",
                StartTime = time, EndTime = time.AddMinutes(1), RawBytes = i, StoredBytes = i,
                Files = [new WrittenFile("a", 1, 1, "zstd", new string('0', 64), new string('0', 64))],
            };
            var setDir = Path.Combine(root, manifest.Engine, manifest.Target, manifest.Type, manifest.Id);
            Directory.CreateDirectory(setDir);
            File.WriteAllBytes(Path.Combine(setDir, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.BackupManifest));
        }
        // Speed is measured in bench/Catalog.Bench.ps1 (docs/benchmarks.md), not here.
        var all = BackupCatalog.List(root);
        Assert.Equal(10_000, all.Count);
        Assert.True(all[0].Manifest.StartTime > all[^1].Manifest.StartTime, "newest first");
        Assert.Equal(2_500, BackupCatalog.List(root, target: "db1").Count);
    }

    [Fact]
    public void UnreadableManifestIsReportedNotListed()
    {
        using var dir = new TempDirectory();
        var set = dir.Combine("mariadb", "db", "full", "20260101T000000Z-00000000");
        Directory.CreateDirectory(set);
        File.WriteAllText(Path.Combine(set, "manifest.json"), "{ torn");
        var problems = new List<string>();
        Assert.Empty(BackupCatalog.List(dir.Path, unreadable: (p, _) => problems.Add(p)));
        Assert.Single(problems);
    }
}

/// <summary>
/// What a large stream allocates, counted process-wide (GC.GetTotalAllocatedBytes): run alone, because a test running
/// beside it counted its own allocations into it (238 MB against a bound of 200 MB on CI, beside tests of 66 MB files).
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class StreamingWriterMemoryTests
{
    [Fact]
    public async Task StreamingWriterMemoryStaysBoundedOnALargeStream()
    {
        using var dir = new TempDirectory();
        // 512 MB from a generator stream that never holds more than one buffer.
        var source = new PatternStream(512L << 20);
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var written = await StreamingWriter.WriteAsync(source, dir.Combine("big.zst"), new CompressionOptions(CompressionKind.Zstd, 1, 2), null, CancellationToken.None);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(512L << 20, written.RawBytes);
        // Allocation does not grow with the data (the 1 MB buffer comes from a pool; zstd's windows are native-sized).
        Assert.True(allocated < 200L << 20, $"allocated {allocated >> 20} MB to write 512 MB");
    }

    /// <summary>A read-only stream of a given length that generates its bytes, so the test holds no data itself.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++) buffer[offset + i] = (byte)((_position + i) * 31 % 251);
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Alone";
}
