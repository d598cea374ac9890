using System.Reflection;
using System.Text.Json;
using BackupTools.Engine.Repository;

namespace BackupTools.Tests;

/// <summary>The catalog index is a cache: whatever happens to it or around it, the catalog equals the manifests.</summary>
public sealed class CatalogIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Root => _dir.Combine("repo");
    private static readonly DateTime T0 = new(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);

    public void Dispose() => _dir.Dispose();

    private string Publish(string target, string type, int i, bool partial = false)
    {
        var time = T0.AddMinutes(i);
        var manifest = new BackupManifest
        {
            Id = BackupSetWriter.NewId(time), Engine = "mariadb", Target = target, Type = type, StartTime = time, EndTime = time.AddMinutes(1),
            RawBytes = i, StoredBytes = i, Files = [new WrittenFile("a", i, i, "zstd", new string('1', 64), new string('2', 64))],
            EngineFields = new Dictionary<string, string> { ["binlogFile"] = $"mariadb-bin.{i:D6}" },
        };
        var dir = Path.Combine(Root, "mariadb", target, type, manifest.Id + (partial ? BackupCatalog.PartialSuffix : ""));
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.BackupManifest));
        return dir;
    }

    /// <summary>What the manifests on disk say, read one by one: the truth the index must equal.</summary>
    private List<string> Truth() =>
        Directory.GetDirectories(Path.Combine(Root, "mariadb"), "*", SearchOption.AllDirectories)
            .Where(d => File.Exists(Path.Combine(d, "manifest.json")) && !d.EndsWith(BackupCatalog.PartialSuffix, StringComparison.Ordinal) && !d.EndsWith(BackupCatalog.DeletingSuffix, StringComparison.Ordinal))
            .Select(d => File.ReadAllText(Path.Combine(d, "manifest.json"))).Order(StringComparer.Ordinal).ToList();

    private List<string> Listed() =>
        BackupCatalog.List(Root).Select(e => JsonSerializer.Serialize(e.Manifest, RepositoryJson.Default.BackupManifest)).Order(StringComparer.Ordinal).ToList();

    private void Age(string typeDirectory) => Directory.SetLastWriteTimeUtc(typeDirectory, DateTime.UtcNow.AddHours(-1));

    [Fact]
    public void TheCatalogEqualsTheManifestsWhateverHappensToTheIndex()
    {
        for (var i = 0; i < 60; i++) Publish($"db{i % 3}", i % 2 == 0 ? "binlog" : "full", i);
        foreach (var d in Directory.GetDirectories(Path.Combine(Root, "mariadb"), "*", SearchOption.AllDirectories).Where(d => d.Split('/').Length == Root.Split('/').Length + 3)) Age(d);
        Assert.Equal(Truth(), Listed());
        var indexes = Directory.GetFiles(Path.Combine(Root, CatalogIndex.DirectoryName), "*.idx", SearchOption.AllDirectories);
        Assert.Equal(6, indexes.Length); // 3 targets x 2 types, each with its index now
        Assert.Equal(Truth(), Listed()); // read from the indexes

        // Deleted: rebuilt from the manifests.
        CatalogIndex.Clear(Root);
        Assert.Equal(Truth(), Listed());
        // Damaged: flipped bytes, cut short, replaced with garbage, emptied.
        var one = Directory.GetFiles(Path.Combine(Root, CatalogIndex.DirectoryName), "*.idx", SearchOption.AllDirectories);
        var bytes = File.ReadAllBytes(one[0]);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(one[0], bytes);
        File.WriteAllBytes(one[1], File.ReadAllBytes(one[1])[..^5]);
        File.WriteAllText(one[2], "not an index");
        File.WriteAllBytes(one[3], []);
        Assert.Equal(Truth(), Listed());

        // A set published (the directory's time changes), one being removed, one killed mid-publish: only what is published is listed.
        Publish("db0", "binlog", 100);
        var gone = Directory.GetDirectories(Path.Combine(Root, "mariadb", "db1", "full"))[0];
        Directory.Move(gone, gone + BackupCatalog.DeletingSuffix);
        Publish("db2", "binlog", 101, partial: true);
        Assert.Equal(Truth(), Listed());
        Assert.Equal(60, Listed().Count); // +1 published, -1 removed, the partial not
    }

    [Fact]
    public void TempFilesAKilledIndexWriterLeftAreRemovedOnceOldAndAYoungOneIsLeftToItsWriter()
    {
        for (var i = 0; i < 4; i++) Publish("db0", "full", i);
        Age(Path.Combine(Root, "mariadb", "db0", "full"));
        Assert.Equal(Truth(), Listed());
        var index = Directory.GetFiles(Path.Combine(Root, CatalogIndex.DirectoryName), "*.idx", SearchOption.AllDirectories).Single();
        var old = $"{index}.{Guid.NewGuid():N}.tmp";
        var young = $"{index}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(old, [1, 2, 3]);
        File.WriteAllBytes(young, [1, 2, 3]);
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddHours(-2));
        Publish("db0", "full", 10); // the next write of that index
        Age(Path.Combine(Root, "mariadb", "db0", "full"));
        Assert.Equal(Truth(), Listed());
        Assert.False(File.Exists(old), "a temp two hours old is a killed writer's");
        Assert.True(File.Exists(young), "a temp a moment old may be another writer's, still at work");
        Assert.Equal(Truth(), Listed());
    }

    [Fact]
    public void AnIndexBuiltInTheSameMomentAsAChangeIsNotTrusted()
    {
        Publish("db0", "binlog", 1);
        Assert.Single(Listed()); // built right after the directory changed: racy
        // A set appears and the directory's time is set back to what the index recorded (a change in the same tick of
        // the file system's clock): the racy index is still listed again, so the set is seen.
        var typeDir = Path.Combine(Root, "mariadb", "db0", "binlog");
        var before = Directory.GetLastWriteTimeUtc(typeDir);
        Publish("db0", "binlog", 2);
        Directory.SetLastWriteTimeUtc(typeDir, before);
        Assert.Equal(2, Listed().Count);
    }

    [Fact]
    public async Task AManifestEditedInPlaceAfterPublishingIsFoundByTestDbBackup()
    {
        var set = Publish("db0", "full", 1);
        Thread.Sleep(2100); // the index made now is trusted: two seconds after the directory last changed
        var entry = BackupCatalog.List(Root).Single();
        var path = Path.Combine(set, "manifest.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"storedBytes\": 1", "\"storedBytes\": 2", StringComparison.Ordinal));
        // A published manifest never changes: the index, trusted while the directory is unchanged, still serves the
        // copy it read; re-reading the set (Test-DbBackup) compares the file with it and says so.
        var check = await BackupSetVerifier.CheckAsync(BackupCatalog.List(Root).Single(), null, CancellationToken.None);
        Assert.True(check.Corrupt);
        Assert.Contains("differs from the manifest the set was published with", check.Detail, StringComparison.Ordinal);
        Assert.Equal(entry.Manifest.StoredBytes, BackupCatalog.List(Root).Single().Manifest.StoredBytes);
    }

    [Fact]
    public void AnUnreadableManifestIsReportedEveryTimeAndNeverListed()
    {
        Publish("db0", "full", 1);
        var bad = Publish("db0", "full", 2);
        File.WriteAllText(Path.Combine(bad, "manifest.json"), "{ not json");
        Age(Path.Combine(Root, "mariadb", "db0", "full"));
        for (var run = 0; run < 2; run++)
        {
            var said = new List<string>();
            var listed = BackupCatalog.List(Root, unreadable: (path, _) => said.Add(path));
            Assert.Single(listed);
            Assert.Equal([Path.Combine(bad, "manifest.json")], said);
        }
    }

    [Fact]
    public void TheIndexFormatCarriesEveryFieldOfAManifest()
    {
        var manifest = new BackupManifest
        {
            Schema = "s", SchemaVersion = 7, Id = "id", Engine = "e", Target = "t", Type = "y", StartTime = T0, EndTime = T0.AddHours(1), DurationSeconds = 1.5,
            RawBytes = 10, StoredBytes = 5, ParentId = "p", ToolVersion = "tv", ServerVersion = "sv", Host = "h", BackupToolsVersion = "0.1.0",
            Files = [new WrittenFile("f", 1, 2, "zstd", "a", "b") { KeyId = "k" }], EngineFields = new Dictionary<string, string> { ["x"] = "1" },
        };
        // Every property of the records has a value that is not its default: a field added later fails this test
        // until the index format writes it too (else the catalog would silently drop it).
        foreach (var (type, value) in new object[] { manifest, manifest.Files[0] }.Select(o => (o.GetType(), o)))
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
            {
                var v = p.GetValue(value);
                var isDefault = v is null || (p.PropertyType.IsValueType && v.Equals(Activator.CreateInstance(p.PropertyType)))
                                || v is System.Collections.ICollection { Count: 0 };
                Assert.False(isDefault, $"{type.Name}.{p.Name} has its default value in this test; give it one, and write it in CatalogIndexCodec");
            }
        var dir = Path.Combine(Root, "e", "t", "y", "id");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.BackupManifest));
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(dir)!, DateTime.UtcNow.AddHours(-1));
        var found = new System.Collections.Concurrent.ConcurrentBag<CatalogEntry>();
        CatalogIndex.Read(Root, Path.GetDirectoryName(dir)!, found, null); // builds the index
        found.Clear();
        CatalogIndex.Read(Root, Path.GetDirectoryName(dir)!, found, null); // reads it back
        Assert.Equal(JsonSerializer.Serialize(manifest, RepositoryJson.Default.BackupManifest), JsonSerializer.Serialize(found.Single().Manifest, RepositoryJson.Default.BackupManifest));
    }
}

/// <summary>The journal's binary copies: a closed month read from its copy equals the month file, an appended month is read again.</summary>
public sealed class JournalCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Root => _dir.Combine("repo");

    public void Dispose() => _dir.Dispose();

    private static JournalEntry Entry(int i) => new()
    {
        Time = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(i), Engine = "mariadb", Target = "db", Type = "binlog",
        Status = i % 5 == 0 ? "Failed" : "Succeeded", Id = i % 5 == 0 ? null : $"id-{i}", DurationSeconds = i / 10.0, StoredBytes = i, Error = i % 5 == 0 ? "boom" : null,
        Host = "h", ProcessId = i,
    };

    private static string Json(IEnumerable<JournalEntry> entries) =>
        string.Join("\n", entries.Select(e => JsonSerializer.Serialize(e, RepositoryJson.Compact.JournalEntry)));

    [Fact]
    public void AClosedMonthIsReadFromItsCopyAndAnAppendedOneAgain()
    {
        for (var i = 0; i < 50; i++) RunJournal.Append(Root, Entry(i));
        var month = Directory.GetFiles(Path.Combine(Root, RunJournal.DirectoryName), "*.jsonl").Single();
        File.AppendAllText(month, "{ a torn or damaged line\n");
        File.SetLastWriteTimeUtc(month, DateTime.UtcNow.AddHours(-1));
        var warned = new List<string>();
        var first = RunJournal.Read(Root, warned.Add);
        var copy = Directory.GetFiles(Path.Combine(Root, CatalogIndex.DirectoryName, "journal"), "*.idx").Single();
        var second = RunJournal.Read(Root, warned.Add); // from the copy
        Assert.Equal(Json(Enumerable.Range(0, 50).Select(Entry)), Json(first));
        Assert.Equal(Json(first), Json(second));
        Assert.Equal(2, warned.Count); // the damaged line is reported from the copy as from the file
        RunJournal.Append(Root, Entry(50)); // the month grows: its copy no longer matches
        Assert.Equal(Json(Enumerable.Range(0, 51).Select(Entry)), Json(RunJournal.Read(Root)));
        File.WriteAllBytes(copy, [1, 2, 3]); // a damaged copy is made again
        Assert.Equal(51, RunJournal.Read(Root).Count);
    }
}
