using System.Security.Cryptography;
using System.Text;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>encryption.local at the storage layer: compressed, then encrypted, then hashed as stored; read back through the keyring.</summary>
[Collection(LocalKeysCollection.Name)] // the keyring is one per process: its tests never run side by side
public sealed class LocalEncryptionTests
{
    [Theory]
    [InlineData(CompressionKind.Zstd, "zstd+btenc")]
    [InlineData(CompressionKind.None, "none+btenc")]
    public async Task AStoredFileIsCiphertextItsHashIsOfTheStoredBytesAndTheKeyringReadsItBack(CompressionKind kind, string marker)
    {
        using var dir = new TempDirectory();
        var key = EncryptionKey.Generate();
        LocalKeys.Use([("test:" + key.Id, () => key)]);
        var plain = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("ROW-IN-THE-CLEAR-0123456789;", 50_000)));
        var options = new CompressionOptions(kind, 3, 1) { Encrypt = key };
        var path = dir.Combine("stream" + options.FileSuffix);
        var written = await StreamingWriter.WriteAsync(new MemoryStream(plain), path, options, null, CancellationToken.None);

        Assert.Equal(marker, written.Compression);
        Assert.Equal(key.Id, written.KeyId); // recorded in the manifest with the file
        Assert.EndsWith(".btenc", path);
        var stored = await File.ReadAllBytesAsync(path);
        Assert.Equal(EncryptedFormat.Magic, stored[..EncryptedFormat.Magic.Length]);
        Assert.DoesNotContain("ROW-IN-THE-CLEAR", Encoding.Latin1.GetString(stored));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(stored)).ToLowerInvariant(), written.Sha256);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(plain)).ToLowerInvariant(), written.RawSha256);

        await using (var back = StreamingWriter.OpenVerifiedRead(path, written.Compression, written.Sha256, out var verifier))
        {
            using var copy = new MemoryStream();
            await back.CopyToAsync(copy);
            await verifier.VerifyToEndAsync(CancellationToken.None);
            Assert.Equal(plain, copy.ToArray());
        }
    }

    [Fact]
    public async Task AFileUnderAKeyNoPolicyNamesIsRefusedNamingItsKeyId()
    {
        using var dir = new TempDirectory();
        var stranger = EncryptionKey.Generate(); // never registered
        var options = new CompressionOptions(CompressionKind.None) { Encrypt = stranger };
        var path = dir.Combine("x" + options.FileSuffix);
        var written = await StreamingWriter.WriteAsync(new MemoryStream(new byte[1000]), path, options, null, CancellationToken.None);
        var e = Assert.Throws<EncryptionKeyException>(() => StreamingWriter.OpenVerifiedRead(path, written.Compression, written.Sha256, out _));
        Assert.Contains(stranger.Id, e.Message);
        Assert.Contains("encryption.keyFile", e.Message);
    }

    [Fact]
    public async Task AChunkedFileIsStoredEncryptedChunkByChunkAndReadsBackWhole()
    {
        using var dir = new TempDirectory();
        var key = EncryptionKey.Generate();
        var source = dir.Combine("shard.safetensors");
        // 10 MB of a 16-byte pattern: chunks of 4, 4 and 1.6 MB, the first two the same bytes.
        var text = string.Concat(Enumerable.Repeat("TENSOR-IN-CLEAR ", 625_000));
        await File.WriteAllTextAsync(source, text);
        var store = new BlobStore(dir.Combine("blobs"), key);
        var (sha, bytes, fresh, chunks) = await store.AddChunkedAsync(source, null, CancellationToken.None);
        Assert.Equal((3, 10_000_000L, 10_000_000L - BlobStore.ChunkSize), (chunks.Count, bytes, fresh)); // the repeated chunk is stored once
        Assert.Equal(chunks[0], chunks[1]);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(source))).ToLowerInvariant(), sha);
        foreach (var chunk in chunks)
        {
            Assert.EndsWith(chunk + BlobStore.EncryptedSuffix, store.PathOf(chunk));
            Assert.DoesNotContain("TENSOR-IN-CLEAR", Encoding.Latin1.GetString(await File.ReadAllBytesAsync(store.PathOf(chunk))));
            Assert.True(await store.VerifyAsync(chunk, CancellationToken.None));
        }
        await using var whole = store.OpenFile(new ModelFile("shard.safetensors", bytes, sha, "644", DateTime.UnixEpoch, false, Chunks: chunks));
        using var copy = new MemoryStream();
        await whole.CopyToAsync(copy);
        Assert.Equal(await File.ReadAllBytesAsync(source), copy.ToArray());
    }

    [Fact]
    public async Task AnEncryptedBlobIsNamedByItsPlaintextReadsBackPlainAndAFlippedByteIsDamage()
    {
        using var dir = new TempDirectory();
        var key = EncryptionKey.Generate();
        var source = dir.Combine("weights.bin");
        await File.WriteAllTextAsync(source, string.Concat(Enumerable.Repeat("WEIGHTS-IN-THE-CLEAR ", 100_000)));
        var store = new BlobStore(dir.Combine("blobs"), key);
        var (sha, _, written) = await store.AddAsync(source, null, CancellationToken.None);
        Assert.True(written);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(source))).ToLowerInvariant(), sha);
        Assert.EndsWith(sha + BlobStore.EncryptedSuffix, store.PathOf(sha));
        Assert.DoesNotContain("WEIGHTS-IN-THE-CLEAR", Encoding.Latin1.GetString(await File.ReadAllBytesAsync(store.PathOf(sha))));
        // A reader without the key at hand (a restore) finds it through the keyring.
        LocalKeys.Use([("test-blob:" + key.Id, () => key)]);
        var reader = new BlobStore(dir.Combine("blobs"));
        Assert.True(await reader.VerifyAsync(sha, CancellationToken.None));
        await using (var plain = reader.OpenPlain(sha))
        using (var copy = new MemoryStream())
        {
            await plain.CopyToAsync(copy);
            Assert.Equal(await File.ReadAllBytesAsync(source), copy.ToArray());
        }
        Assert.False((await store.AddAsync(source, null, CancellationToken.None)).Written); // stored once
        var bytes = await File.ReadAllBytesAsync(store.PathOf(sha));
        bytes[^30] ^= 1;
        await File.WriteAllBytesAsync(store.PathOf(sha), bytes);
        Assert.False(await reader.VerifyAsync(sha, CancellationToken.None));
    }
}

/// <summary>Small model files in packs under encryption.local: each blob sealed on its own, read back, repacked and checked.</summary>
[Collection(LocalKeysCollection.Name)]
public sealed class EncryptedPackTests
{
    [Fact]
    public async Task EachPackedBlobIsSealedOnItsOwnRoundTripsSurvivesARepackAndAFlippedByteIsFound()
    {
        using var dir = new TempDirectory();
        var key = EncryptionKey.Generate();
        LocalKeys.Use([("test-pack:" + key.Id, () => key)]);
        try
        {
            var model = dir.Combine("model");
            var repo = dir.Combine("repo");
            for (var i = 0; i < 60; i++)
            {
                Directory.CreateDirectory(Path.Combine(model, $"d{i % 3}"));
                await File.WriteAllTextAsync(Path.Combine(model, $"d{i % 3}", $"f{i:D3}.jsonl"), string.Concat(Enumerable.Repeat($"SECRET-ROW-{i};", 200)));
            }
            var (v1, _) = await ModelBackup.RunAsync(repo, "m", model, "1", [], false, null, CancellationToken.None, encrypt: key);
            var packs = Path.Combine(repo, "models", "m", "packs");
            // (One pack per worker filling at once: how many depends on scheduling, so every one is checked.)
            var v1Packs = Directory.GetFiles(packs, "*.pack");
            Assert.NotEmpty(v1Packs);
            Assert.False(Directory.Exists(Path.Combine(repo, "models", "m", "blobs")) && Directory.GetFiles(Path.Combine(repo, "models", "m", "blobs"), "*", SearchOption.AllDirectories).Length > 0);
            var indexed = 0;
            foreach (var pack in v1Packs)
            {
                var stored = await File.ReadAllBytesAsync(pack);
                Assert.DoesNotContain("SECRET-ROW", Encoding.Latin1.GetString(stored));
                var index = PackStore.ReadIndex(Path.ChangeExtension(pack, ".idx"));
                indexed += index.Count;
                Assert.All(index, b => Assert.True(b.Blob.Encrypted));
                // Every blob is a BTENC1 stream of its own: a range of the pack starts with the header.
                Assert.All(index, b => Assert.Equal(EncryptedFormat.Magic, stored.AsSpan((int)b.Blob.Offset, EncryptedFormat.Magic.Length).ToArray()));
            }
            Assert.Equal(60, indexed);

            var restored = await ModelRestore.RunAsync(repo, v1, dir.Combine("restored"), null, null, CancellationToken.None);
            foreach (var f in v1.Files)
                Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(model, f.Path)), await File.ReadAllBytesAsync(Path.Combine(restored.Destination, f.Path)));

            // Version 2 changes two thirds of the files; keeping only it repacks version 1's pack, the kept blobs still sealed.
            foreach (var f in Directory.GetFiles(model, "*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Where((_, i) => i % 3 != 0))
                await File.AppendAllTextAsync(f, "changed");
            var (v2, _) = await ModelBackup.RunAsync(repo, "m", model, "2", [], false, null, CancellationToken.None, encrypt: key);
            var removed = await ModelRetention.RunAsync(repo, new ModelPolicy("m", dir.Combine("elsewhere"), 1), (_, _) => Task.FromResult(true), null);
            Assert.Equal(["1"], removed.Select(r => r.Id));
            Assert.True(removed[0].BytesFreed > 0);
            Assert.Contains(v1Packs, p => !File.Exists(p)); // repacked or removed
            Assert.All(Directory.GetFiles(packs, "*.idx").SelectMany(i => PackStore.ReadIndex(i)), b => Assert.True(b.Blob.Encrypted));
            var checks = await ModelVerifier.VerifyAsync(repo, "m", null, CancellationToken.None).ToListAsync();
            Assert.Equal(VerificationStatus.Verified, Assert.Single(checks).Status);
            var again = await ModelRestore.RunAsync(repo, v2, dir.Combine("restored-2"), null, null, CancellationToken.None);
            foreach (var f in v2.Files)
                Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(model, f.Path)), await File.ReadAllBytesAsync(Path.Combine(again.Destination, f.Path)));

            // One flipped byte inside a sealed blob fails its authentication: Corrupt, never other bytes.
            var some = Directory.GetFiles(packs, "*.pack")[0];
            var bytes = await File.ReadAllBytesAsync(some);
            bytes[bytes.Length / 2] ^= 1;
            await File.WriteAllBytesAsync(some, bytes);
            var after = await ModelVerifier.VerifyAsync(repo, "m", null, CancellationToken.None).ToListAsync();
            Assert.Equal(VerificationStatus.Corrupt, Assert.Single(after).Status);
        }
        finally { LocalKeys.Use([]); }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalKeysCollection
{
    public const string Name = "LocalKeys";
}
