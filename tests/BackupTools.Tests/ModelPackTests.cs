using BackupTools.Engine.Models;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>Small model files in packs: round trips, retention that repacks without losing a kept blob, crash leftovers.</summary>
public sealed class ModelPackTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Model => _dir.Combine("model");
    private string Repo => _dir.Combine("repo");
    private string Packs => Path.Combine(Repo, "models", "data", "packs");
    private string Blobs => Path.Combine(Repo, "models", "data", "blobs");

    public void Dispose() => _dir.Dispose();

    /// <summary>300 small files (1-30 KB) in 10 directories, and two large ones (2 MB), each with its own content, mode and time.</summary>
    private void MakeTree(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 300; i++)
        {
            var path = Path.Combine(Model, $"shard{i % 10:D3}", $"part-{i:D4}.jsonl");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var bytes = new byte[random.Next(1024, 30 * 1024)];
            random.NextBytes(bytes);
            File.WriteAllBytes(path, bytes);
            File.SetUnixFileMode(path, i % 3 == 0 ? (UnixFileMode)0x1A4 : (UnixFileMode)0x180); // 0644 or 0600
            File.SetLastWriteTimeUtc(path, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(i));
        }
        foreach (var name in new[] { "weights-1.bin", "weights-2.bin" })
        {
            var bytes = new byte[2 << 20];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(Model, name), bytes);
        }
    }

    private Task<(ModelManifest Manifest, ModelBackupStatus Status)> Backup(string version) =>
        ModelBackup.RunAsync(Repo, "data", Model, version, [], false, null, CancellationToken.None);

    private static void AssertSameTree(string expected, string actual)
    {
        var a = Directory.GetFiles(expected, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(expected, f)).Order(StringComparer.Ordinal).ToList();
        var b = Directory.GetFiles(actual, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(actual, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(a, b);
        foreach (var f in a)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(expected, f)), File.ReadAllBytes(Path.Combine(actual, f)));
            Assert.Equal(File.GetUnixFileMode(Path.Combine(expected, f)), File.GetUnixFileMode(Path.Combine(actual, f)));
            Assert.Equal(File.GetLastWriteTimeUtc(Path.Combine(expected, f)), File.GetLastWriteTimeUtc(Path.Combine(actual, f)));
        }
    }

    [Fact]
    public async Task SmallFilesGoIntoAFewPacksAndTheTreeRoundTripsByteExact()
    {
        MakeTree(1);
        var (v1, _) = await Backup("1");
        Assert.Equal(302, v1.Files.Count);
        var packs = Directory.GetFiles(Packs, "*.pack");
        Assert.InRange(packs.Length, 1, 4); // 300 files of 15 KB on average: a few packs, one per worker at most over 16 MB
        Assert.Equal(packs.Length, Directory.GetFiles(Packs, "*.idx").Length);
        Assert.Equal(2, Directory.GetFiles(Blobs, "*", SearchOption.AllDirectories).Length); // only the large files are blob files
        Assert.Empty(Directory.GetFiles(Path.Combine(Packs, "tmp")));

        var restored = _dir.Combine("restored");
        var result = await ModelRestore.RunAsync(Repo, v1, restored, null, null, CancellationToken.None);
        AssertSameTree(Model, result.Destination);
        var checks = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync();
        Assert.All(checks, c => Assert.Equal(VerificationStatus.Verified, c.Status));
    }

    [Fact]
    public async Task RetentionRemovesAndRepacksWithoutLosingABlobAKeptVersionNeeds()
    {
        MakeTree(1);
        var (v1, _) = await Backup("1");
        // Version 2 changes two thirds of the small files: most of version 1's packs become garbage, a third stays shared.
        var random = new Random(2);
        foreach (var f in Directory.GetFiles(Model, "part-*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Where((_, i) => i % 3 != 0))
        {
            var bytes = new byte[new FileInfo(f).Length];
            random.NextBytes(bytes);
            File.WriteAllBytes(f, bytes);
        }
        var (v2, _) = await Backup("2");
        var before = Directory.GetFiles(Packs, "*.pack").Sum(p => new FileInfo(p).Length);
        var removed = await ModelRetention.RunAsync(Repo, new ModelPolicy("data", _dir.Combine("elsewhere"), 1), (_, _) => Task.FromResult(true), null);
        Assert.Equal(["1"], removed.Select(r => r.Id));
        Assert.True(removed[0].BytesFreed > 0);
        var after = Directory.GetFiles(Packs, "*.pack").Sum(p => new FileInfo(p).Length);
        Assert.True(after < before, $"packs {after} bytes after retention, {before} before");
        // Every blob version 2 names is still there and whole, and nothing it does not name is kept in a pack.
        var store = new BlobStore(Blobs);
        foreach (var f in v2.Files) Assert.True(await store.VerifyAsync(f.Sha256, CancellationToken.None), f.Path);
        var named = v2.Files.Select(f => f.Sha256).ToHashSet();
        var packed = Directory.GetFiles(Packs, "*.idx").SelectMany(i => PackStore.ReadIndex(i)).Select(b => b.Sha256).ToList();
        Assert.All(packed, sha => Assert.Contains(sha, named));
        var restored = await ModelRestore.RunAsync(Repo, v2, _dir.Combine("restored"), null, null, CancellationToken.None);
        AssertSameTree(Model, restored.Destination);
    }

    [Fact]
    public async Task RetentionRefusesWhileAVersionManifestCannotBeReadAndRemovesNothing()
    {
        MakeTree(4);
        await Backup("1");
        File.WriteAllBytes(Path.Combine(Model, "shard000", "new.jsonl"), new byte[5000]);
        await Backup("2");
        File.WriteAllBytes(Path.Combine(Model, "shard001", "new.jsonl"), new byte[6000]);
        var (v3, _) = await Backup("3");
        // Version 2's manifest is cut short: its blobs are unknown, so nothing may go (not even version 1).
        var two = Path.Combine(Repo, "models", "data", "versions", "2.json");
        File.WriteAllBytes(two, File.ReadAllBytes(two)[..100]);
        var before = Directory.GetFiles(Path.Combine(Repo, "models", "data"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ModelRetention.RunAsync(Repo, new ModelPolicy("data", _dir.Combine("elsewhere"), 1), (_, _) => Task.FromResult(true), null));
        Assert.Contains("2.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was removed", e.Message, StringComparison.Ordinal);
        var after = Directory.GetFiles(Path.Combine(Repo, "models", "data"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(before, after.Where(f => !f.Contains("/locks/", StringComparison.Ordinal) && !f.EndsWith(".lock", StringComparison.Ordinal)).ToList());
        Assert.Equal(3, Directory.GetFiles(Path.Combine(Repo, "models", "data", "versions"), "*.json").Length);
        // With the damaged file moved out, retention runs again (keep 1: versions 1 and 2 go).
        File.Move(two, _dir.Combine("2.json.damaged"));
        var removed = await ModelRetention.RunAsync(Repo, new ModelPolicy("data", _dir.Combine("elsewhere"), 1), (_, _) => Task.FromResult(true), null);
        Assert.Equal(["1"], removed.Select(r => r.Id));
        var restored = await ModelRestore.RunAsync(Repo, v3, _dir.Combine("restored"), null, null, CancellationToken.None);
        AssertSameTree(Model, restored.Destination);
    }

    /// <summary>Replaces the file by a new one (a new inode) of other random bytes with its size and time; returns the bytes.</summary>
    private static byte[] SwapKeepingSizeAndTime(string path, ModelFile old, int seed)
    {
        var bytes = new byte[old.Size];
        new Random(seed).NextBytes(bytes);
        File.WriteAllBytes(path + ".new", bytes);
        File.SetLastWriteTimeUtc(path + ".new", old.Modified);
        File.Move(path + ".new", path, overwrite: true);
        return bytes;
    }

    [Fact]
    public async Task AFileSwappedForOneOfTheSameSizeAndTimeIsReadAgainBecauseItsInodeChanged()
    {
        MakeTree(5);
        var (v1, _) = await Backup("1");
        var path = Path.Combine(Model, "shard003", "part-0003.jsonl");
        var old = v1.Files.Single(f => f.Path == "shard003/part-0003.jsonl");
        Assert.NotEqual(0UL, old.Inode);
        // What a tool that writes a temp and renames it over does, with the time set back (rsync --times, tar -x).
        var bytes = SwapKeepingSizeAndTime(path, old, 9);
        Assert.Equal(old.Size, new FileInfo(path).Length);
        Assert.Equal(old.Modified, File.GetLastWriteTimeUtc(path));
        var (v2, _) = await Backup("2");
        var now = v2.Files.Single(f => f.Path == old.Path);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant(), now.Sha256);
        Assert.NotEqual(old.Inode, now.Inode);
        // The untouched files kept their blobs without being read (same hashes), and the version restores as the tree is.
        Assert.Equal(v1.Files.Where(f => f.Path != old.Path).Select(f => f.Sha256), v2.Files.Where(f => f.Path != old.Path).Select(f => f.Sha256));
        var restored = await ModelRestore.RunAsync(Repo, v2, _dir.Combine("restored"), null, null, CancellationToken.None);
        AssertSameTree(Model, restored.Destination);
    }

    [Fact]
    public async Task WithIgnoreInodeAFileOfTheSameSizeAndTimeUnderANewInodeIsNotReadAgain()
    {
        MakeTree(5);
        var (v1, _) = await Backup("1");
        var path = Path.Combine(Model, "shard003", "part-0003.jsonl");
        var old = v1.Files.Single(f => f.Path == "shard003/part-0003.jsonl");
        // A new inode with the same size and time: other bytes, so whether it was read shows in its hash (with the switch
        // it is not: that is its price, as with restic's --ignore-inode; an NFS remount changes inodes and nothing else).
        SwapKeepingSizeAndTime(path, old, 11);
        File.WriteAllText(Path.Combine(Model, "shard001", "part-0001.jsonl"), "changed"); // a real change is still seen
        var stored = Directory.GetFiles(Packs, "*.pack").Length;
        var (v2, _) = await ModelBackup.RunAsync(Repo, "data", Model, "2", [], false, null, CancellationToken.None, ignoreInode: true);
        var now = v2.Files.Single(f => f.Path == old.Path);
        Assert.Equal(old.Sha256, now.Sha256);
        Assert.NotEqual(old.Inode, now.Inode); // the new inode is recorded for the next check
        Assert.Equal(7, v2.NewBytes); // "changed" alone was read and stored
        Assert.Equal(stored + 1, Directory.GetFiles(Packs, "*.pack").Length);
    }

    [Fact]
    public async Task AVersionManifestIsOneZstdFrameOfJsonWithTheFileListLastAndEveryReaderAgrees()
    {
        MakeTree(6);
        var (v1, _) = await Backup("1");
        File.WriteAllBytes(Path.Combine(Model, "extra.jsonl"), new byte[100]);
        await Backup("2");
        var path = Path.Combine(Repo, "models", "data", "versions", "1.json");
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, bytes[..4]);
        // What an operator runs: zstd -dc | jq. The JSON is the manifest, its file list the last property.
        var zstd = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("zstd", ["-dc", path]) { RedirectStandardOutput = true })!;
        var json = await zstd.StandardOutput.ReadToEndAsync();
        await zstd.WaitForExitAsync();
        Assert.Equal(0, zstd.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("files", doc.RootElement.EnumerateObject().Last().Name);
        Assert.Equal(v1.Files.Count, doc.RootElement.GetProperty("files").GetArrayLength());
        Assert.True(bytes.Length * 2 < json.Length, $"{bytes.Length} bytes compressed, {json.Length} plain");
        // A plain manifest an earlier release wrote reads the same.
        var plain = Path.Combine(Repo, "models", "data", "versions", "0.json");
        File.WriteAllText(plain, json.Replace("\"version\":\"1\"", "\"version\":\"0\"", StringComparison.Ordinal));
        var versions = ModelBackup.Versions(Repo, "data");
        var summaries = ModelBackup.Summaries(Repo, "data");
        Assert.Equal("2", versions[0].Version);
        Assert.Equal(["0", "1", "2"], versions.Select(v => v.Version).Order(StringComparer.Ordinal));
        Assert.Equal(versions.Select(v => (v.Version, v.Created, v.RawBytes)).OrderBy(v => v.Version, StringComparer.Ordinal),
            summaries.Select(s => (s.Version, s.Created, s.RawBytes)).OrderBy(v => v.Version, StringComparer.Ordinal));
        Assert.Equal(v1.ManifestHash, versions.Single(v => v.Version == "0").ManifestHash);
    }

    [Fact]
    public async Task TextIsStoredCompressedRandomBytesAsTheyAreAndBothReadBackExactly()
    {
        // 200 JSONL files (text that compresses, as training data mostly is) and 100 of random bytes (as parquet or images).
        var random = new Random(11);
        for (var i = 0; i < 300; i++)
        {
            var path = Path.Combine(Model, $"shard{i % 10:D3}", $"part-{i:D4}.{(i < 200 ? "jsonl" : "bin")}");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (i < 200)
                File.WriteAllText(path, string.Concat(Enumerable.Range(0, 100).Select(n => $"{{\"id\":{i * 1000 + n},\"text\":\"row {n} of file {i}, label {random.Next(5)}\"}}\n")));
            else
            {
                var content = new byte[random.Next(5000, 20000)];
                random.NextBytes(content);
                File.WriteAllBytes(path, content);
            }
        }
        var (v1, _) = await Backup("1");
        var index = Directory.GetFiles(Packs, "*.idx").SelectMany(i => PackStore.ReadIndex(i)).ToDictionary(b => b.Sha256, b => b.Blob);
        var bySha = v1.Files.ToDictionary(f => f.Sha256);
        Assert.All(index, b => Assert.Equal(bySha[b.Key].Path.EndsWith(".jsonl", StringComparison.Ordinal), b.Value.Compressed));
        // Text: stored in well under half its size; random bytes: exactly their size.
        long text = v1.Files.Where(f => f.Path.EndsWith(".jsonl", StringComparison.Ordinal)).Sum(f => f.Size);
        long textStored = index.Where(b => b.Value.Compressed).Sum(b => b.Value.Length);
        Assert.True(textStored * 2 < text, $"text {text} bytes stored in {textStored}");
        Assert.All(index.Where(b => !b.Value.Compressed), b => Assert.Equal(bySha[b.Key].Size, b.Value.Length));
        Assert.Equal(index.Values.Sum(b => b.Length), Directory.GetFiles(Packs, "*.pack").Sum(p => new FileInfo(p).Length)); // nothing else in them

        var restored = await ModelRestore.RunAsync(Repo, v1, _dir.Combine("restored"), null, null, CancellationToken.None);
        AssertSameTree(Model, restored.Destination);
        var checks = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync();
        Assert.Equal(VerificationStatus.Verified, Assert.Single(checks).Status);
        // A flipped byte inside a compressed blob: Corrupt, never other bytes.
        var (_, some) = index.First(b => b.Value.Compressed);
        var pack = Path.Combine(Packs, some.Pack + ".pack");
        var bytes = File.ReadAllBytes(pack);
        bytes[some.Offset + some.Length / 2] ^= 0x55;
        File.WriteAllBytes(pack, bytes);
        var after = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync();
        Assert.Equal(VerificationStatus.Corrupt, Assert.Single(after).Status);
    }

    [Fact]
    public async Task APackACrashLeftUnindexedIsRemovedAndNeverServes()
    {
        MakeTree(3);
        var (v1, _) = await Backup("1");
        // What a crash leaves: a pack written but never indexed, a pack half-written in tmp, an index torn.
        File.WriteAllBytes(Path.Combine(Packs, "deadbeefdeadbeefdeadbeefdeadbeef.pack"), new byte[1000]);
        File.WriteAllBytes(Path.Combine(Packs, "tmp", "0123.pack"), new byte[10]);
        var idx = Directory.GetFiles(Packs, "*.idx")[0];
        var copy = _dir.Combine("idx-copy");
        File.Copy(idx, copy);
        File.WriteAllBytes(idx, File.ReadAllBytes(idx)[..^7]);
        // A torn index makes its blobs missing (never wrong bytes): the verifier names the pack and the version.
        var checks = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync();
        Assert.Equal(VerificationStatus.Corrupt, checks.Single(c => c.Id.StartsWith("pack ", StringComparison.Ordinal)).Status);
        Assert.Contains("index cannot be read", checks.Single(c => c.Id.StartsWith("pack ", StringComparison.Ordinal)).Detail, StringComparison.Ordinal);
        Assert.Equal(VerificationStatus.Missing, checks.Single(c => c.Id == "1").Status);
        File.Copy(copy, idx, overwrite: true);
        MakeTree(4); // new content: the next backup writes packs, and first removes what the crash left
        await Backup("2");
        Assert.False(File.Exists(Path.Combine(Packs, "deadbeefdeadbeefdeadbeefdeadbeef.pack")));
        Assert.Empty(Directory.GetFiles(Path.Combine(Packs, "tmp")));
        checks = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync();
        Assert.All(checks, c => Assert.Equal(VerificationStatus.Verified, c.Status));
    }

    [Fact]
    public async Task ReadDataReadsASampleButChecksThatEveryBlobIsThere()
    {
        MakeTree(5);
        var (v1, _) = await Backup("1");
        var full = (await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None).ToListAsync()).Single();
        Assert.Equal(v1.RawBytes, full.BytesChecked);
        var sampled = (await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None, readPercent: 10, random: new Random(3)).ToListAsync()).Single();
        Assert.Equal(VerificationStatus.Verified, sampled.Status);
        Assert.InRange(sampled.BytesChecked, 1, v1.RawBytes / 3); // about a tenth of the blobs read
        Assert.Contains("10 % of them read", sampled.Detail, StringComparison.Ordinal);
        // A blob gone from the index is missing whatever the sample: presence is always checked.
        var packs = new PackStore(Packs);
        var victim = v1.Files.First(f => packs.Contains(f.Sha256)).Sha256;
        var idx = Directory.GetFiles(Packs, "*.idx").First(i => PackStore.ReadIndex(i).Any(b => b.Sha256 == victim));
        var kept = PackStore.ReadIndex(idx).Where(b => b.Sha256 != victim).ToList();
        File.WriteAllBytes(idx, PackStore.IndexBytes(kept, encrypted: false));
        var after = await ModelVerifier.VerifyAsync(Repo, "data", null, CancellationToken.None, readPercent: 1, random: new Random(3)).ToListAsync();
        Assert.Equal(VerificationStatus.Missing, after.Single(c => c.Id == "1").Status);
    }
}
