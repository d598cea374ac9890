using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BackupTools.Engine.Models;

namespace BackupTools.Tests;

/// <summary>
/// The streamed forms of a version manifest (read an entry at a time, written as the walk goes) and the walk's order:
/// what lets a backup of a million files hold neither list. Each must agree exactly with the whole-list forms.
/// </summary>
public sealed class ManifestStreamTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Files with paths short and long (one longer than the reader's 64 KB buffer), links, inodes and non-ASCII names.</summary>
    private static List<ModelFile> Files(int count)
    {
        var random = new Random(7);
        return Enumerable.Range(0, count).Select(i => new ModelFile(
                i == 3 ? "long/" + new string('p', 70_000) : i % 7 == 0 ? $"données/日本/{new string('x', random.Next(1, 600))}-{i}" : $"shard{i % 10}/part-{i:D5}.jsonl",
                i, i % 13 == 0 ? "" : Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant(), i % 2 == 0 ? "644" : "600",
                DateTime.UnixEpoch.AddSeconds(i * 1.5), i % 17 == 0, i % 13 == 0 ? $"../target-{i}" : null, (ulong)(i % 5 == 0 ? 0 : 1000 + i)))
            .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    private static ModelManifest Manifest(IReadOnlyList<ModelFile> files) => new()
    {
        Name = "data", Version = "7", VersionSource = "given", Created = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc),
        SourcePath = "/srv/data", Files = files, RawBytes = 1234, NewBytes = 56, DurationSeconds = 1.5,
    };

    private static List<ModelFile> ReadAll(string path)
    {
        using var reader = ManifestFileReader.Open(path);
        var read = new List<ModelFile>();
        while (reader.TryRead(out var f)) read.Add(f);
        reader.ReadToEnd();
        Assert.Equal("7", reader.Head["version"].GetString());
        Assert.Equal(1234, reader.Head["rawBytes"].GetInt64());
        return read;
    }

    [Fact]
    public void TheReaderGivesEveryEntryOfACompressedOrPlainManifestExactly()
    {
        var files = Files(5000);
        var manifest = Manifest(files);
        var compressed = _dir.Combine("compressed.json");
        ModelJson.WriteDurably(compressed, manifest);
        var plain = _dir.Combine("plain.json"); // as releases before compression wrote them
        File.WriteAllBytes(plain, JsonSerializer.SerializeToUtf8Bytes(manifest, ModelJson.Default.ModelManifest));
        Assert.True(new FileInfo(plain).Length > 4 << 20 >> 4, "the manifest spans many reads of the buffer"); // > 256 KB
        Assert.Equal(files, ReadAll(compressed));
        Assert.Equal(files, ReadAll(plain));
        Assert.Equal(files, ModelJson.Read(compressed)!.Files);
    }

    [Fact]
    public void ACutOrDamagedManifestIsAJsonExceptionNeverAShorterList()
    {
        var path = _dir.Combine("m.json");
        ModelJson.WriteDurably(path, Manifest(Files(3000)));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.ThrowsAny<JsonException>(() => ReadAll(path));
        bytes[bytes.Length - 2] ^= 0x40; // in the frame's last block or its checksum
        File.WriteAllBytes(path, bytes);
        Assert.ThrowsAny<JsonException>(() => ReadAll(path));
        var plain = _dir.Combine("plain.json");
        var json = JsonSerializer.SerializeToUtf8Bytes(Manifest(Files(3000)), ModelJson.Default.ModelManifest);
        File.WriteAllBytes(plain, json[..(json.Length - 200)]);
        Assert.ThrowsAny<JsonException>(() => ReadAll(plain));
    }

    [Fact]
    public void TheWriterWritesWhatTheWholeSerializerWroteWithTheSameHash()
    {
        var files = Files(4000);
        var spool = _dir.Combine("spool");
        var path = _dir.Combine("v.json");
        using (var writer = new ManifestWriter(spool))
        {
            foreach (var f in files) writer.Add(f);
            Assert.Equal(files.Count, writer.Count);
            Assert.Equal(ModelManifest.HashOf(files), writer.Hash);
            writer.WriteManifest(path, Manifest([]));
        }
        Assert.False(File.Exists(spool)); // the spool goes with the writer
        var read = ModelJson.Read(path)!;
        Assert.Equal(files, read.Files);
        Assert.Equal(Manifest(files) with { Files = [] }, read with { Files = [] });
        // Byte for byte the JSON the whole manifest serializes to (manifestHash included), once decompressed.
        using var zstd = new ZstdSharp.DecompressionStream(File.OpenRead(path));
        using var json = new MemoryStream();
        zstd.CopyTo(json);
        Assert.Equal(Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(Manifest(files), ModelJson.Default.ModelManifest)), Encoding.UTF8.GetString(json.ToArray()));
    }

    [Fact]
    public void TheWriterRefusesAPathTwiceOrOutOfOrder()
    {
        using var writer = new ManifestWriter(_dir.Combine("spool"));
        var file = new ModelFile("_config/etc/app.yml", 1, new string('a', 64), "644", DateTime.UnixEpoch, true);
        writer.Add(file);
        var twice = Assert.Throws<InvalidOperationException>(() => writer.Add(file with { Config = false }));
        Assert.Contains("'_config/etc/app.yml'", twice.Message);
        Assert.Throws<InvalidOperationException>(() => writer.Add(file with { Path = "_a" }));
    }

    [Fact]
    public void AVersionReadLazilyListsItsFilesFromDiskEvenOnceItsNameIsRemoved()
    {
        var files = Files(3000);
        var path = _dir.Combine("v.json");
        ModelJson.WriteDurably(path, Manifest(files));
        var lazy = ModelJson.ReadLazily(path);
        Assert.IsType<ManifestFileList>(lazy.Files);
        Assert.Equal(files.Count, lazy.Files.Count);
        Assert.Equal(ModelManifest.HashOf(files), lazy.ManifestHash);
        Assert.Equal(Manifest([]) with { Files = [] }, lazy with { Files = [] });
        File.Delete(path); // retention removed it while a reader still had the version
        Assert.Equal(files, lazy.Files.ToList());
        Assert.Equal(files, lazy.Files.ToList()); // read again on each enumeration
        Assert.Equal(files[1234], lazy.Files[1234]);

        // A list out of path order (not written by this module) is read whole, and hashed sorted as the definition says.
        var unordered = _dir.Combine("unordered.json");
        File.WriteAllBytes(unordered, JsonSerializer.SerializeToUtf8Bytes(Manifest([.. Enumerable.Reverse(files)]), ModelJson.Default.ModelManifest));
        var whole = ModelJson.ReadLazily(unordered);
        Assert.IsNotType<ManifestFileList>(whole.Files);
        Assert.Equal(ModelManifest.HashOf(files), whole.ManifestHash);
        // A damaged one is a JsonException, as ModelJson.Read says.
        File.WriteAllText(unordered, "{\"version\":\"7\",\"files\":[{\"path\":");
        Assert.ThrowsAny<JsonException>(() => ModelJson.ReadLazily(unordered));
    }

    [Fact]
    public void TheWalkComesInTheOrdinalOrderOfWholePaths()
    {
        var root = _dir.Combine("tree");
        // Names where sorting each directory by name alone goes wrong: "a" the directory sorts as "a/", after "a.txt"
        // and "a-b" ('.' and '-' are below '/') and before "a0"; upper case before lower; a link to a directory is an entry.
        string[] paths = ["a/z", "a/b/c", "a.txt", "a-b/x", "a0", "a!", "B/x", "b", "a/b.c", "a/b/c.d/e", "ä/x", "日本/y"];
        foreach (var p in paths)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, p))!);
            File.WriteAllText(Path.Combine(root, p), p);
        }
        File.CreateSymbolicLink(Path.Combine(root, "a/link"), "b"); // an entry, never descended
        Assert.Equal([.. paths.Append("a/link").Order(StringComparer.Ordinal)], ModelWalk.Sorted(root).Select(e => e.Relative).ToList());
        Assert.Equal(["_config/x", "a", "b", "c", "d"],
            ModelWalk.Merge(["a", "c", "d"], new[] { "_config/x", "b" }, s => s).ToList());
    }
}
