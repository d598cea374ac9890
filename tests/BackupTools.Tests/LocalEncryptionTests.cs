using System.Security.Cryptography;
using System.Text;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;

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

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalKeysCollection
{
    public const string Name = "LocalKeys";
}
