using BackupTools.Engine.Models;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>Model versions in a content-addressed store: dedup across versions, unchanged runs, version conflicts, crash leftovers.</summary>
public sealed class ModelBackupTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Model => _dir.Combine("model");
    private string Repo => _dir.Combine("repo");

    public ModelBackupTests()
    {
        Directory.CreateDirectory(Path.Combine(Model, "tokenizer"));
        File.WriteAllText(Path.Combine(Model, "config.json"), """{ "version": "1.0", "layers": 2 }""");
        File.WriteAllBytes(Path.Combine(Model, "weights.bin"), Random(6_000_000, 1));
        File.WriteAllBytes(Path.Combine(Model, "tokenizer", "vocab.bin"), Random(300_000, 2));
    }

    public void Dispose() => _dir.Dispose();

    private static byte[] Random(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    private Task<(ModelManifest Manifest, ModelBackupStatus Status)> Backup(string? version = null, bool force = false) =>
        ModelBackup.RunAsync(Repo, "llm", Model, version, [], force, null, CancellationToken.None);

    [Fact]
    public async Task AConfigFileARestorePutUnderConfigInTheModelIsBackedUpOnceFromItsLivePath()
    {
        var config = _dir.Combine("etc", "app.yml");
        Directory.CreateDirectory(Path.GetDirectoryName(config)!);
        File.WriteAllText(config, "live: 2");
        var relative = "_config/" + config.TrimStart('/');
        // What Restore-AiModel leaves: the config as it was at that version, under _config/ in the model directory.
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(Model, relative))!);
        File.WriteAllText(Path.Combine(Model, relative), "restored: 1");
        var (m, status) = await ModelBackup.RunAsync(Repo, "llm", Model, "2", [config], false, null, CancellationToken.None);
        Assert.Equal(ModelBackupStatus.Succeeded, status);
        var entry = Assert.Single(m.Files, f => f.Path == relative);
        Assert.True(entry.Config);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData("live: 2"u8)).ToLowerInvariant(), entry.Sha256);
        Assert.Equal(4, m.Files.Count); // config.json, weights.bin, tokenizer/vocab.bin and the config file once
    }

    // Blob files and packs (files under 1 MB are packed).
    private long StoredBytes() => new[] { "blobs", "packs" }.Select(d => Path.Combine(Repo, "models", "llm", d)).Where(Directory.Exists)
        .SelectMany(d => Directory.GetFiles(d, "*", SearchOption.AllDirectories)).Where(f => !f.EndsWith(".idx", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);

    /// <summary>Flips one byte of a stored blob, in its own file or in its pack.</summary>
    internal static void Damage(BlobStore store, string sha, int at)
    {
        if (store.IsPacked(sha))
        {
            var blob = store.Packs.Locate(sha);
            var pack = Path.Combine(store.Packs.Directory, blob.Pack + ".pack");
            var bytes = File.ReadAllBytes(pack);
            bytes[blob.Offset + Math.Min(at, blob.Length - 1)] ^= 1;
            File.WriteAllBytes(pack, bytes);
            return;
        }
        var path = store.PathOf(sha);
        var all = File.ReadAllBytes(path);
        all[Math.Min(at, all.Length - 1)] ^= 1;
        File.WriteAllBytes(path, all);
    }

    [Fact]
    public async Task ALargeFileIsStoredInChunksAndTheNextVersionStoresOnlyTheChunkThatChanged()
    {
        // A checkpoint shard just over the threshold: 16 chunks of 4 MB and the rest.
        var shard = Path.Combine(Model, "model-00001-of-00001.safetensors");
        var length = (int)BlobStore.ChunkThreshold + 2_000_123;
        var bytes = Random(length, 4);
        File.WriteAllBytes(shard, bytes);
        var (v1, _) = await Backup("1");
        var f1 = v1.Files.Single(f => f.Path == Path.GetFileName(shard));
        Assert.Equal(17, f1.Chunks!.Count);
        Assert.Equal(Sha(bytes), f1.Sha256); // the whole content's, as ever
        Assert.Equal(Enumerable.Range(0, 17).Select(i => Sha(bytes[(i * BlobStore.ChunkSize)..Math.Min(length, (i + 1) * BlobStore.ChunkSize)])), f1.Chunks);
        Assert.Null(v1.Files.Single(f => f.Path == "weights.bin").Chunks); // 6 MB, under the threshold: one blob

        // A tensor in the middle changed in place (same size, same offsets): one chunk is new, the others are shared.
        var before = StoredBytes();
        bytes[5 * BlobStore.ChunkSize + 1000] ^= 0xFF;
        File.WriteAllBytes(shard, bytes);
        var (v2, _) = await Backup("2");
        var f2 = v2.Files.Single(f => f.Path == f1.Path);
        Assert.Equal(f1.Chunks.Select((c, i) => i == 5 ? Sha(bytes[(5 * BlobStore.ChunkSize)..(6 * BlobStore.ChunkSize)]) : c), f2.Chunks!);
        Assert.Equal(BlobStore.ChunkSize, v2.NewBytes);
        Assert.Equal(before + BlobStore.ChunkSize, StoredBytes());

        // Both versions restore byte for byte, verify, and a damaged chunk is named.
        foreach (var (version, expected) in new[] { (v1, Random(length, 4)), (v2, bytes) })
        {
            var result = await ModelRestore.RunAsync(Repo, version, _dir.Combine("restored-" + version.Version), null, null, CancellationToken.None);
            Assert.Equal(expected, File.ReadAllBytes(Path.Combine(result.Destination, f1.Path)));
        }
        var store = new BlobStore(Path.Combine(Repo, "models", "llm", "blobs"));
        Assert.All(await ModelVerifier.VerifyAsync(Repo, "llm", null, CancellationToken.None).ToListAsync(), c => Assert.Equal(VerificationStatus.Verified, c.Status));
        Damage(store, f1.Chunks[16], 5);
        var checks = await ModelVerifier.VerifyAsync(Repo, "llm", null, CancellationToken.None).ToListAsync();
        Assert.All(checks, c => Assert.Equal(VerificationStatus.Corrupt, c.Status)); // the last chunk is in both versions
        Assert.All(checks, c => Assert.Contains($"chunk blob {f1.Chunks[16]} of '{f1.Path}' is damaged", c.Detail));
        var refused = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(Repo, v2, _dir.Combine("refused"), null, null, CancellationToken.None));
        Assert.Equal("verify blobs", refused.Step);
    }

    [Fact]
    public async Task AVersionNamingAWholeFileBlobThatIsGoneIsWrittenAgainNotReportedUnchanged()
    {
        var shard = Path.Combine(Model, "model.safetensors");
        File.WriteAllBytes(shard, Random((int)BlobStore.ChunkThreshold + 1000, 6));
        var (v1, _) = await Backup("1");
        // As a release before chunking wrote it: the shard as one blob (by its whole SHA-256), and that blob lost.
        var path = ModelBackup.VersionPath(Repo, "llm", "1");
        var old = ModelJson.Read(path)!;
        File.Delete(path);
        ModelJson.WriteDurably(path, old with { Files = [.. old.Files.Select(f => f.Path == "model.safetensors" ? f with { Chunks = null } : f)] });
        Assert.Equal(VerificationStatus.Missing, Assert.Single(await ModelVerifier.VerifyAsync(Repo, "llm", "1", CancellationToken.None).ToListAsync()).Status);

        var (again, status) = await Backup("1");
        Assert.Equal(ModelBackupStatus.Succeeded, status); // not Unchanged: the version named a blob that is gone
        Assert.Equal(v1.ManifestHash, again.ManifestHash); // the same content
        Assert.Equal(17, again.Files.Single(f => f.Path == "model.safetensors").Chunks!.Count);
        Assert.Equal(VerificationStatus.Verified, Assert.Single(await ModelVerifier.VerifyAsync(Repo, "llm", "1", CancellationToken.None).ToListAsync()).Status);
        var restored = await ModelRestore.RunAsync(Repo, ModelBackup.Versions(Repo, "llm").Single(), _dir.Combine("restored"), null, null, CancellationToken.None);
        Assert.Equal(File.ReadAllBytes(shard), File.ReadAllBytes(Path.Combine(restored.Destination, "model.safetensors")));
    }

    private static string Sha(byte[] bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();

    [Fact]
    public async Task ASecondVersionStoresOnlyTheFileThatChanged()
    {
        var (v1, s1) = await Backup();
        Assert.Equal((ModelBackupStatus.Succeeded, "1.0", "config.json"), (s1, v1.Version, v1.VersionSource));
        Assert.Equal(3, v1.Files.Count);
        Assert.Equal(v1.RawBytes, v1.NewBytes);
        var before = StoredBytes();

        File.WriteAllBytes(Path.Combine(Model, "tokenizer", "vocab.bin"), Random(300_000, 3));
        File.WriteAllText(Path.Combine(Model, "config.json"), """{ "version": "1.1", "layers": 2 }""");
        var (v2, _) = await Backup();
        Assert.Equal("1.1", v2.Version);
        var configSize = new FileInfo(Path.Combine(Model, "config.json")).Length;
        Assert.Equal(300_000 + configSize, v2.NewBytes);
        Assert.Equal(before + 300_000 + configSize, StoredBytes());
        Assert.Equal(v1.Files.Single(f => f.Path == "weights.bin").Sha256, v2.Files.Single(f => f.Path == "weights.bin").Sha256);
        Assert.Contains(v2.Files, f => f.Path == "tokenizer/vocab.bin");
    }

    [Fact]
    public async Task TheSameVersionAgainCopiesNothingAndDifferentContentNeedsForce()
    {
        var (v1, _) = await Backup();
        var (again, status) = await Backup();
        Assert.Equal(ModelBackupStatus.Unchanged, status);
        Assert.Equal(v1.Created, again.Created);

        File.WriteAllBytes(Path.Combine(Model, "weights.bin"), Random(6_000_000, 9)); // same declared version 1.0
        var e = await Assert.ThrowsAsync<ModelVersionConflictException>(() => Backup());
        Assert.Contains("version 1.0 is already backed up with different content", e.Message);
        var (forced, forcedStatus) = await Backup(force: true);
        Assert.Equal(ModelBackupStatus.Succeeded, forcedStatus);
        Assert.NotEqual(v1.ManifestHash, forced.ManifestHash);
    }

    [Fact]
    public async Task RehashCatchesContentChangedBehindAPreservedSizeAndModificationTime()
    {
        var (v1, _) = await Backup();
        var weights = Path.Combine(Model, "weights.bin");
        var mtime = File.GetLastWriteTimeUtc(weights);
        File.WriteAllBytes(weights, Random(6_000_000, 7)); // same size, then the old mtime back, as `cp -p` or rsync -a can leave it
        File.SetLastWriteTimeUtc(weights, mtime);
        Assert.Equal(ModelBackupStatus.Unchanged, (await Backup()).Status); // the quick check cannot see it: documented
        var e = await Assert.ThrowsAsync<ModelVersionConflictException>(() => ModelBackup.RunAsync(Repo, "llm", Model, null, [], false, null, CancellationToken.None, rehash: true));
        Assert.Contains("different content", e.Message);
        var (v2, _) = await ModelBackup.RunAsync(Repo, "llm", Model, "1.0-rehashed", [], false, null, CancellationToken.None, rehash: true);
        Assert.NotEqual(v1.Files.Single(f => f.Path == "weights.bin").Sha256, v2.Files.Single(f => f.Path == "weights.bin").Sha256);
        // The refused run above had already stored the new blob (a version is its manifest; blobs are shared), so none is new now.
        Assert.All(v2.Files.Single(f => f.Path == "weights.bin").Blobs, b => Assert.True(new BlobStore(Path.Combine(Repo, "models", "llm", "blobs")).Contains(b)));
    }

    [Fact]
    public async Task AModelFileOverOneGigabyteRoundTrips()
    {
        // Sparse, so it costs no time to create, with data written at the start, across the 1 GiB and 2^31 marks and at the end.
        var big = Path.Combine(Model, "model.gguf");
        const long size = 2_200_000_000;
        using (var f = new FileStream(big, FileMode.CreateNew))
        {
            f.SetLength(size);
            foreach (var at in new long[] { 0, (1L << 30) - 3, (1L << 31) - 5, size - 4096 })
            {
                f.Position = at;
                f.Write(Random(4096, (int)(at % 1000)));
            }
        }
        var expected = await Sha256Of(big);
        var (v, _) = await Backup();
        Assert.Equal(expected, v.Files.Single(f => f.Path == "model.gguf").Sha256);
        Assert.Equal(size, v.Files.Single(f => f.Path == "model.gguf").Size);
        var restored = _dir.Combine("restored");
        var result = await ModelRestore.RunAsync(Repo, v, restored, null, null, CancellationToken.None);
        Assert.Contains("check the restored files", result.Steps);
        Assert.Equal(expected, await Sha256Of(Path.Combine(restored, "model.gguf")));
    }

    private static async Task<string> Sha256Of(string path)
    {
        await using var s = File.OpenRead(path);
        return Convert.ToHexString(await System.Security.Cryptography.SHA256.HashDataAsync(s)).ToLowerInvariant();
    }

    [Fact]
    public async Task WithoutADeclaredVersionTheContentNamesIt()
    {
        File.Delete(Path.Combine(Model, "config.json"));
        var (v, _) = await Backup();
        Assert.Equal("content", v.VersionSource);
        Assert.Equal("sha256-" + v.ManifestHash[..12], v.Version);
        File.WriteAllText(Path.Combine(Model, "VERSION"), "2024.06-rc1\n");
        Assert.Equal(("2024.06-rc1", "VERSION"), ((await Backup()).Manifest.Version, (await Backup()).Manifest.VersionSource));
    }

    [Fact]
    public async Task BlobsAreVerifiableAndCrashLeftoversNeverLookStored()
    {
        var (v, _) = await Backup();
        var store = new BlobStore(Path.Combine(Repo, "models", "llm", "blobs"));
        foreach (var f in v.Files) Assert.True(await store.VerifyAsync(f.Sha256, CancellationToken.None));
        // A copy killed half way leaves a temporary file only; it is never taken for a blob, and the next run clears it.
        File.WriteAllBytes(Path.Combine(store.Directory, "tmp", "deadbeef"), [1, 2, 3]);
        File.Delete(ModelBackup.VersionPath(Repo, "llm", v.Version));
        await Backup();
        Assert.False(File.Exists(Path.Combine(store.Directory, "tmp", "deadbeef")));
    }
}

/// <summary>Restores: byte-exact, validation with rollback, damaged blobs and escaping paths refused before anything is touched.</summary>
public sealed class ModelRestoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Model => _dir.Combine("model");
    private string Repo => _dir.Combine("repo");

    public void Dispose() => _dir.Dispose();

    private async Task<(ModelManifest V1, ModelManifest V2)> TwoVersionsAsync()
    {
        Directory.CreateDirectory(Path.Combine(Model, "sub"));
        File.WriteAllText(Path.Combine(Model, "VERSION"), "1");
        File.WriteAllBytes(Path.Combine(Model, "weights.bin"), Enumerable.Range(0, 500_000).Select(i => (byte)i).ToArray());
        File.WriteAllText(Path.Combine(Model, "sub", "a.txt"), "one");
        var (v1, _) = await ModelBackup.RunAsync(Repo, "llm", Model, null, [], false, null, CancellationToken.None);
        File.WriteAllText(Path.Combine(Model, "VERSION"), "2");
        File.WriteAllText(Path.Combine(Model, "sub", "a.txt"), "two");
        File.WriteAllText(Path.Combine(Model, "new.txt"), "only in v2");
        var (v2, _) = await ModelBackup.RunAsync(Repo, "llm", Model, null, [], false, null, CancellationToken.None);
        return (v1, v2);
    }

    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexString(File.ReadAllBytes(f)));

    [Fact]
    public async Task RestoringV1OverV2GivesBackEveryByteOfV1()
    {
        var (v1, _) = await TwoVersionsAsync();
        var expected = new Dictionary<string, string>
        {
            ["VERSION"] = Convert.ToHexString("1"u8.ToArray()),
            ["weights.bin"] = Convert.ToHexString(Enumerable.Range(0, 500_000).Select(i => (byte)i).ToArray()),
            [Path.Combine("sub", "a.txt")] = Convert.ToHexString("one"u8.ToArray()),
        };
        var result = await ModelRestore.RunAsync(Repo, v1, Model, _ => Task.FromResult(true), null, CancellationToken.None);
        Assert.True(result.Validated);
        Assert.Equal(expected, Snapshot(Model));
        Assert.Equal(v1.Files.Single(f => f.Path == "weights.bin").Modified, File.GetLastWriteTimeUtc(Path.Combine(Model, "weights.bin")));
        Assert.Empty(Directory.GetDirectories(_dir.Path, "model.restore-*").Concat(Directory.GetDirectories(_dir.Path, "model.previous-*")));
    }

    [Fact]
    public async Task AFailedValidationPutsThePreviousDirectoryBackExactly()
    {
        var (v1, _) = await TwoVersionsAsync();
        var before = Snapshot(Model);
        string? seen = null;
        var e = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(Repo, v1, Model,
            dir => { seen = File.ReadAllText(Path.Combine(dir, "VERSION")); return Task.FromResult(false); }, null, CancellationToken.None));
        Assert.Equal("validate", e.Step);
        Assert.Equal("1", seen); // the script saw the restored version in place
        Assert.Equal(before, Snapshot(Model));
        Assert.Empty(Directory.GetDirectories(_dir.Path, "model.restore-*").Concat(Directory.GetDirectories(_dir.Path, "model.previous-*")));
    }

    [Fact]
    public async Task ADamagedBlobIsRefusedBeforeTheDestinationIsTouched()
    {
        var (v1, _) = await TwoVersionsAsync();
        var before = Snapshot(Model);
        ModelBackupTests.Damage(new BlobStore(Path.Combine(Repo, "models", "llm", "blobs")), v1.Files.Single(f => f.Path == "weights.bin").Blobs[^1], 1000);
        var e = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(Repo, v1, Model, null, null, CancellationToken.None));
        Assert.Equal("verify blobs", e.Step);
        Assert.Equal(before, Snapshot(Model));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a/../../x")]
    public async Task PathsThatLeaveTheDestinationAreRefused(string path)
    {
        var (v1, _) = await TwoVersionsAsync();
        var evil = v1 with { Files = [.. v1.Files, v1.Files[0] with { Path = path }] };
        var e = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(Repo, evil, _dir.Combine("out"), null, null, CancellationToken.None));
        Assert.Equal("check paths", e.Step);
        Assert.False(Directory.Exists(_dir.Combine("out")));
        Assert.False(File.Exists(_dir.Combine("x")));
    }

    [Fact]
    public void APathThroughASymlinkIsRefused()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("dest"));
        Directory.CreateSymbolicLink(dir.Combine("dest", "link"), "/tmp");
        Assert.Throws<ModelRestoreException>(() => ModelRestore.SafePath(dir.Combine("dest"), "link/x"));
    }

    [Fact]
    public async Task SymlinkedDirectoriesAndFifosAreSkippedWithAWarningAndSetuidBitsAreNotRestored()
    {
        // A root-only directory the model's owner links into the model, a FIFO, and a setuid file.
        Directory.CreateDirectory(Model);
        File.WriteAllText(Path.Combine(Model, "VERSION"), "1");
        var secret = _dir.Combine("root-only");
        Directory.CreateDirectory(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(secret, "shadow"), "root secret");
        Directory.CreateSymbolicLink(Path.Combine(Model, "linked"), secret);
        File.CreateSymbolicLink(Path.Combine(Model, "linked-file"), Path.Combine(secret, "shadow"));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(Model, "pipe")])) mkfifo.WaitForExit();
        File.WriteAllText(Path.Combine(Model, "tool"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(Model, "tool"), (UnixFileMode)Convert.ToInt32("4755", 8));

        var warnings = new List<string>();
        var backup = ModelBackup.RunAsync(Repo, "llm", Model, null, [], false, null, CancellationToken.None, warn: warnings.Add);
        Assert.True(await Task.WhenAny(backup, Task.Delay(TimeSpan.FromSeconds(60))) == backup, "the backup hung (it opened the FIFO)");
        var (v, _) = await backup;
        Assert.DoesNotContain(v.Files, f => f.Path.StartsWith("linked") || f.Path == "pipe");
        Assert.Contains(v.Files, f => f.Path == "tool");
        Assert.Contains(warnings, w => w.Contains("linked") && w.Contains("symlink"));
        Assert.Contains(warnings, w => w.Contains("pipe") && w.Contains("FIFO"));

        var restored = _dir.Combine("restored");
        await ModelRestore.RunAsync(Repo, v, restored, null, null, CancellationToken.None);
        Assert.Equal((UnixFileMode)Convert.ToInt32("0755", 8), File.GetUnixFileMode(Path.Combine(restored, "tool")));
        Assert.False(Directory.Exists(Path.Combine(restored, "linked")));
        var kept = _dir.Combine("restored-special");
        await ModelRestore.RunAsync(Repo, v, kept, null, null, CancellationToken.None, keepSpecialBits: true);
        Assert.Equal((UnixFileMode)Convert.ToInt32("4755", 8), File.GetUnixFileMode(Path.Combine(kept, "tool")));
    }

    [Fact]
    public async Task LinksInsideTheModelAreKeptAsLinksAndALinkLeadingOutIsRefused()
    {
        // A Hugging Face cache: snapshots/<rev>/ holds links into blobs/, and a link to a directory names the revision.
        Directory.CreateDirectory(Path.Combine(Model, "blobs"));
        Directory.CreateDirectory(Path.Combine(Model, "snapshots", "abc"));
        File.WriteAllText(Path.Combine(Model, "blobs", "0f1e"), "weights");
        File.CreateSymbolicLink(Path.Combine(Model, "snapshots", "abc", "model.bin"), "../../blobs/0f1e");
        Directory.CreateSymbolicLink(Path.Combine(Model, "current"), "snapshots/abc");
        File.CreateSymbolicLink(Path.Combine(Model, "escape"), "../../etc/passwd");
        var warnings = new List<string>();
        var (v, _) = await ModelBackup.RunAsync(Repo, "llm", Model, "1", [], false, null, CancellationToken.None, warn: warnings.Add);
        Assert.Equal("../../blobs/0f1e", v.Files.Single(f => f.Path == "snapshots/abc/model.bin").LinkTarget);
        Assert.Equal("snapshots/abc", v.Files.Single(f => f.Path == "current").LinkTarget);
        Assert.DoesNotContain(v.Files, f => f.Path == "escape");
        Assert.Contains(warnings, w => w.Contains("escape") && w.Contains("outside the model"));
        // The same tree again is unchanged (links compared by target), a changed target is a new version.
        Assert.Equal(ModelBackupStatus.Unchanged, (await ModelBackup.RunAsync(Repo, "llm", Model, "1", [], false, null, CancellationToken.None)).Status);

        var restored = _dir.Combine("restored");
        await ModelRestore.RunAsync(Repo, v, restored, null, null, CancellationToken.None);
        Assert.Equal("../../blobs/0f1e", new FileInfo(Path.Combine(restored, "snapshots", "abc", "model.bin")).LinkTarget);
        Assert.Equal("snapshots/abc", new DirectoryInfo(Path.Combine(restored, "current")).LinkTarget);
        Assert.Equal("weights", File.ReadAllText(Path.Combine(restored, "current", "model.bin")));

        // A manifest whose link climbs out of the destination (tampered, or from another tool) is refused before anything is written.
        var evil = v with { Files = [.. v.Files, new ModelFile("snapshots/evil", 0, "", "777", DateTime.UnixEpoch, false, "../../../etc")] };
        var e = await Assert.ThrowsAsync<ModelRestoreException>(() => ModelRestore.RunAsync(Repo, evil, _dir.Combine("out"), null, null, CancellationToken.None));
        Assert.Equal("check paths", e.Step);
        Assert.Contains("outside the model", e.Message);
        Assert.False(Directory.Exists(_dir.Combine("out")));
    }

    [Theory]
    [InlineData("a/l", "../b", true)]
    [InlineData("a/b/l", "../../c", true)]
    [InlineData("l", "../x", false)]
    [InlineData("a/l", "../../x", false)]
    [InlineData("l", "/etc", false)]
    [InlineData("l", "a/../../x", false)]
    [InlineData("p/q/l", "x/../..", false)]
    [InlineData("l", "a/./b", false)]
    [InlineData("l", "", false)]
    public void ALinkStaysInsideOnlyInPlainRelativeForm(string link, string target, bool inside) =>
        Assert.Equal(inside, ModelFile.LinkStaysInside(link, target));
}
