using System.Security.Cryptography;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Binary log archiving against the fixture's real mariadbd (its binlogs live in a directory this host sees).</summary>
[Collection(ServerCollection.Name)]
public sealed class BinlogArchiverTests(ServerFixture fixture)
{
    private readonly MariaDbServer _db = fixture.Servers.MariaDb;

    private BackupRequest Request(TempDirectory dir) => new()
    {
        RepositoryRoot = dir.Combine("repo"), Password = _db.BackupPassword,
        Target = new TargetPolicy { Name = "main-db", Engine = TargetEngine.MariaDb, Socket = _db.Socket, User = MariaDbServer.BackupUser },
    };

    private string[] ServerBinlogs() =>
        _db.Sql("SHOW BINARY LOGS").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]).ToArray();

    [Fact]
    public async Task EveryClosedFileIsArchivedOnceWithItsEventTimesAndExactBytes()
    {
        using var dir = new TempDirectory();
        _db.Sql("CREATE DATABASE IF NOT EXISTS bl; CREATE TABLE IF NOT EXISTS bl.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) ENGINE=InnoDB;");
        var full = await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None);
        Assert.Null(full.Error);
        var before = DateTime.UtcNow.AddSeconds(-1);
        _db.Sql("INSERT INTO bl.t (v) VALUES ('one')");
        var first = await BinlogArchiver.RunAsync(Request(dir), CancellationToken.None);
        _db.Sql("INSERT INTO bl.t (v) VALUES ('two'); FLUSH BINARY LOGS; INSERT INTO bl.t (v) VALUES ('three');");
        var second = await BinlogArchiver.RunAsync(Request(dir), CancellationToken.None);
        var after = DateTime.UtcNow.AddSeconds(1);

        Assert.All(first.Concat(second), a => Assert.Null(a.Error));
        Assert.Equal(full.Record.BinlogFile, first[0].Record.BinlogFile);
        Assert.Equal(2, second.Count); // the file closed by our FLUSH and the one closed by the archiver's
        var archived = first.Concat(second).Select(a => a.Record).ToList();
        Assert.Equal(archived.Count, archived.Select(r => r.BinlogFile).Distinct().Count());
        var numbers = archived.Select(r => int.Parse(r.BinlogFile![^6..])).ToList();
        Assert.Equal(Enumerable.Range(numbers[0], numbers.Count), numbers);
        Assert.DoesNotContain(ServerBinlogs()[^1], archived.Select(r => r.BinlogFile)); // the open file is never archived

        foreach (var record in archived)
        {
            Assert.InRange(record.LastEventTime!.Value, record.FirstEventTime!.Value, after);
            var manifest = BackupCatalog.List(dir.Combine("repo"), "mariadb", "main-db", "binlog").Single(e => e.Manifest.Id == record.Id).Manifest;
            var file = Assert.Single(manifest.Files);
            var original = File.ReadAllBytes(Path.Combine(_db.BinlogDirectory, record.BinlogFile!));
            Assert.Equal(Convert.ToHexString(SHA256.HashData(original)).ToLowerInvariant(), file.RawSha256);
            Assert.Equal(original.Length.ToString(), manifest.EngineFields[EngineFieldNames.EndPosition]);
            using var stored = StreamingWriter.OpenRead(Path.Combine(record.Path!, file.Name), file.Compression);
            using var copy = new MemoryStream();
            stored.CopyTo(copy);
            Assert.Equal(original, copy.ToArray());
        }
        Assert.True(archived[^1].LastEventTime >= before.AddSeconds(-1), "the newest file's last event is from this test");
    }

    [Fact]
    public async Task APurgedFileIsAFailedRecordNamingIt()
    {
        using var dir = new TempDirectory();
        var full = await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None);
        Assert.Null(full.Error);
        _db.Sql("FLUSH BINARY LOGS; FLUSH BINARY LOGS;");
        var current = ServerBinlogs()[^1];
        _db.Sql($"PURGE BINARY LOGS TO '{current}'");
        Assert.DoesNotContain(full.Record.BinlogFile, ServerBinlogs());

        var attempts = await BinlogArchiver.RunAsync(Request(dir), CancellationToken.None);
        var failed = Assert.Single(attempts, a => a.Record.Status == BackupOutcome.Failed);
        var hole = Assert.IsType<BinlogHoleException>(failed.Error);
        Assert.Contains(full.Record.BinlogFile!, hole.Missing);
        Assert.Contains(full.Record.BinlogFile!, failed.Record.Error);
        Assert.Contains("Take a full backup now", failed.Record.Error);
        Assert.Contains(RunJournal.Read(dir.Combine("repo")), j => j is { Type: "binlog", Status: "Failed" });

        // Still loud on the next run, and quiet once a new full starts a chain after the gap.
        Assert.Contains(await BinlogArchiver.RunAsync(Request(dir), CancellationToken.None), a => a.Error is BinlogHoleException);
        Assert.Null((await MariaDbBackup.RunAsync(Request(dir), MariaDbCatalog.Full, CancellationToken.None)).Error);
        Assert.All(await BinlogArchiver.RunAsync(Request(dir), CancellationToken.None), a => Assert.Null(a.Error));
    }

    [Fact]
    public void ScannerReadsARealBinlogToItsEnd()
    {
        _db.Sql("FLUSH BINARY LOGS");
        var name = ServerBinlogs()[^2];
        using var scanner = new BinlogScanner(File.OpenRead(Path.Combine(_db.BinlogDirectory, name)));
        scanner.CopyTo(Stream.Null);
        var facts = scanner.Facts;
        Assert.Equal(new FileInfo(Path.Combine(_db.BinlogDirectory, name)).Length, facts.EndPosition);
        Assert.True(facts.ClosedCleanly, "a file closed by FLUSH ends with a Rotate event");
        Assert.Equal(1u, facts.ServerId);
        Assert.True(facts.Events >= 3);
    }

    [Fact]
    public void ScannerRejectsACutOffFile()
    {
        _db.Sql("FLUSH BINARY LOGS");
        var bytes = File.ReadAllBytes(Path.Combine(_db.BinlogDirectory, ServerBinlogs()[^2]));
        using var scanner = new BinlogScanner(new MemoryStream(bytes[..^5]));
        scanner.CopyTo(Stream.Null);
        Assert.Contains("cut off", Assert.Throws<InvalidDataException>(() => scanner.Facts).Message);
    }
}
