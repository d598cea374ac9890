using BackupTools.Engine.Encryption;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Copies of published sets to a real Azure Blob emulator (Azurite), encrypted, verified, manifests last, resumable.</summary>
public sealed class OffsiteCopyTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly AzuriteServer _azurite;
    private readonly RedisServer _redis;
    private readonly EncryptionKey _key = EncryptionKey.Generate();

    public OffsiteCopyTests()
    {
        _azurite = AzuriteServer.Start(_dir.Combine("azurite"));
        _redis = RedisServer.Start(_dir.Combine("redis"));
    }

    public void Dispose()
    {
        _redis.Dispose();
        _azurite.Dispose();
        _dir.Dispose();
    }

    private string Repo => _dir.Combine("repo");

    private async Task<CatalogEntry> SnapshotAsync(string marker)
    {
        _redis.Command($"SET marker {marker}");
        var target = new TargetPolicy { Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = _redis.Port };
        var attempt = await RedisBackup.RunAsync(new BackupRequest { RepositoryRoot = Repo, Target = target, Compression = CompressionOptions.None },
            RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(attempt.Error);
        return BackupCatalog.List(Repo, "redis", "cache").Single(e => e.Manifest.Id == attempt.Record.Id);
    }

    private static async Task<byte[]> ReadDecryptedAsync(IRemoteStore store, string name, EncryptionKey key)
    {
        await using var stored = await store.OpenReadAsync(name, CancellationToken.None);
        await using var plain = new DecryptingStream(stored, key);
        using var copy = new MemoryStream();
        await plain.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task ASetArrivesEncryptedVerifiedAndWholeAndAResumedCopySendsOnlyWhatIsMissing()
    {
        var store = new AzureBlobStore(_azurite.ConnectionString, "backups", "prod/");
        var set = await SnapshotAsync("PLAINTEXT-MARKER-0123456789");
        var result = await OffsiteCopier.CopySetAsync(Repo, set, store, _key, null, CancellationToken.None);
        Assert.Equal((2, 0), (result.Sent, result.AlreadyThere));
        var relative = Path.GetRelativePath(Repo, set.Path);
        Assert.Equal([relative], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        // Byte-exact after decryption, and nothing of the dump in the clear on the emulator's disk.
        foreach (var file in set.Manifest.Files.Select(f => f.Name).Append(BackupManifest.FileName))
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(set.Path, file)), await ReadDecryptedAsync(store, $"{relative}/{file}{OffsiteCopier.Suffix}", _key));
        foreach (var stored in Directory.EnumerateFiles(_azurite.DataDirectory, "*", SearchOption.AllDirectories))
            Assert.DoesNotContain("PLAINTEXT-MARKER-0123456789", System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(stored)));
        // Again: nothing is sent.
        Assert.Equal((0, 2), ((await OffsiteCopier.CopySetAsync(Repo, set, store, _key, null, CancellationToken.None)) is var again ? (again.Sent, again.AlreadyThere) : default));

        // A copy stopped after its first file: the set is not listed there; resumed, only the manifest is sent.
        var second = await SnapshotAsync("second");
        OffsiteCopier.AfterFile = name => { if (name != BackupManifest.FileName) throw new OperationCanceledException("stopped mid-copy"); };
        try { await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OffsiteCopier.CopySetAsync(Repo, second, store, _key, null, CancellationToken.None)); }
        finally { OffsiteCopier.AfterFile = null; }
        Assert.Equal([relative], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        var resumed = await OffsiteCopier.CopySetAsync(Repo, second, store, _key, null, CancellationToken.None);
        Assert.Equal((1, 1), (resumed.Sent, resumed.AlreadyThere));
        Assert.Equal(2, (await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task ATamperedObjectOrAnotherKeyFailsTheVerification()
    {
        var store = new AzureBlobStore(_azurite.ConnectionString, "backups");
        var set = await SnapshotAsync("x");
        await OffsiteCopier.CopySetAsync(Repo, set, store, _key, null, CancellationToken.None);
        var relative = Path.GetRelativePath(Repo, set.Path);
        var file = set.Manifest.Files[0];
        var name = $"{relative}/{file.Name}{OffsiteCopier.Suffix}";
        await using (var s = await store.OpenReadAsync(name, CancellationToken.None))
        {
            using var copy = new MemoryStream();
            await s.CopyToAsync(copy);
            var bytes = copy.ToArray();
            bytes[^3] ^= 0x01;
            await store.PutAsync(name, new MemoryStream(bytes), new Dictionary<string, string> { [OffsiteCopier.ShaKey] = file.Sha256, [OffsiteCopier.KeyIdKey] = _key.Id }, CancellationToken.None);
        }
        await Assert.ThrowsAsync<EncryptedDataException>(() => OffsiteCopier.VerifyAsync(name, file.Sha256, store, _key, CancellationToken.None));
        var other = EncryptionKey.Generate();
        var e = await Assert.ThrowsAsync<EncryptionKeyException>(() => OffsiteCopier.VerifyAsync($"{relative}/{BackupManifest.FileName}{OffsiteCopier.Suffix}", "x", store, other, CancellationToken.None));
        Assert.Contains(_key.Id, e.Message);
    }
}
