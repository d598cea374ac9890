using BackupTools.Engine.Encryption;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Copies to Azure Blob (Azurite, the emulator Microsoft ships).</summary>
[Collection(OffsiteCopierCollection.Name)] // OffsiteCopier.AfterFile/AfterPart are process-wide test hooks
public sealed class AzureOffsiteCopyTests : OffsiteCopyTests
{
    private readonly AzuriteServer _azurite;
    public AzureOffsiteCopyTests() => _azurite = AzuriteServer.Start(Dir.Combine("azurite"));
    protected override IRemoteStore Store(string prefix = "") => new AzureBlobStore(_azurite.ConnectionString, "backups", prefix);
    protected override string StoredBytesDirectory => _azurite.DataDirectory;
    public override void Dispose()
    {
        _azurite.Dispose();
        base.Dispose();
    }
}

/// <summary>Copies to an S3-compatible store (s3rver) through the AWS SDK.</summary>
[Collection(OffsiteCopierCollection.Name)] // OffsiteCopier.AfterFile/AfterPart are process-wide test hooks
public sealed class S3OffsiteCopyTests : OffsiteCopyTests
{
    private readonly S3rverServer _s3;
    public S3OffsiteCopyTests() => _s3 = S3rverServer.Start(Dir.Combine("s3"));
    protected override IRemoteStore Store(string prefix = "") =>
        new S3Store(_s3.Endpoint, "us-east-1", new Amazon.Runtime.BasicAWSCredentials(S3rverServer.AccessKeyId, S3rverServer.SecretAccessKey), "backups", prefix);
    protected override string StoredBytesDirectory => _s3.DataDirectory;
    public override void Dispose()
    {
        _s3.Dispose();
        base.Dispose();
    }
}

/// <summary>Copies of published sets to a real store, encrypted, verified, manifests last, resumable by file and by part.</summary>
public abstract class OffsiteCopyTests : IDisposable
{
    protected readonly TempDirectory Dir = new();
    private readonly RedisServer _redis;
    private readonly EncryptionKey _key = EncryptionKey.Generate();

    protected OffsiteCopyTests() => _redis = RedisServer.Start(Dir.Combine("redis"));

    protected abstract IRemoteStore Store(string prefix = "");
    protected abstract string StoredBytesDirectory { get; }

    public virtual void Dispose()
    {
        _redis.Dispose();
        Dir.Dispose();
    }

    private string Repo => Dir.Combine("repo");
    private OffsiteCopyOptions Options => new(Dir.Combine("state"));

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
        var store = Store("prod/");
        var set = await SnapshotAsync("PLAINTEXT-MARKER-0123456789");
        var result = await OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options, null, CancellationToken.None);
        Assert.Equal((2, 0), (result.Sent, result.AlreadyThere));
        var relative = Path.GetRelativePath(Repo, set.Path);
        Assert.Equal([relative], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        // Byte-exact after decryption, and nothing of the dump in the clear on the emulator's disk.
        foreach (var file in set.Manifest.Files.Select(f => f.Name).Append(BackupManifest.FileName))
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(set.Path, file)), await ReadDecryptedAsync(store, $"{relative}/{file}{OffsiteCopier.Suffix}", _key));
        foreach (var stored in Directory.EnumerateFiles(StoredBytesDirectory, "*", SearchOption.AllDirectories))
            Assert.DoesNotContain("PLAINTEXT-MARKER-0123456789", System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(stored)));
        // Again: nothing is sent.
        Assert.Equal((0, 2), ((await OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options, null, CancellationToken.None)) is var again ? (again.Sent, again.AlreadyThere) : default));

        // A copy stopped after its first file: the set is not listed there; resumed, only the manifest is sent.
        var second = await SnapshotAsync("second");
        OffsiteCopier.AfterFile = name => { if (name != BackupManifest.FileName) throw new OperationCanceledException("stopped mid-copy"); };
        try { await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OffsiteCopier.CopySetAsync(Repo, second, store, _key, Options, null, CancellationToken.None)); }
        finally { OffsiteCopier.AfterFile = null; }
        Assert.Equal([relative], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        var resumed = await OffsiteCopier.CopySetAsync(Repo, second, store, _key, Options, null, CancellationToken.None);
        Assert.Equal((1, 1), (resumed.Sent, resumed.AlreadyThere));
        Assert.Equal(2, (await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task ATamperedObjectOrAnotherKeyFailsTheVerification()
    {
        var store = Store();
        var set = await SnapshotAsync("x");
        await OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options, null, CancellationToken.None);
        var relative = Path.GetRelativePath(Repo, set.Path);
        var file = set.Manifest.Files[0];
        var name = $"{relative}/{file.Name}{OffsiteCopier.Suffix}";
        await using (var s = await store.OpenReadAsync(name, CancellationToken.None))
        {
            using var copy = new MemoryStream();
            await s.CopyToAsync(copy);
            var bytes = copy.ToArray();
            bytes[^3] ^= 0x01;
            await store.PutAsync(name, bytes, new Dictionary<string, string> { [OffsiteCopier.ShaKey] = file.Sha256, [OffsiteCopier.KeyIdKey] = _key.Id }, null, CancellationToken.None);
        }
        await Assert.ThrowsAsync<EncryptedDataException>(() => OffsiteCopier.VerifyAsync(name, file.Sha256, store, _key, CancellationToken.None));
        var other = EncryptionKey.Generate();
        var e = await Assert.ThrowsAsync<EncryptionKeyException>(() => OffsiteCopier.VerifyAsync($"{relative}/{BackupManifest.FileName}{OffsiteCopier.Suffix}", "x", store, other, CancellationToken.None));
        Assert.Contains(_key.Id, e.Message);
    }

    [Fact]
    public async Task ALargeFileCutBetweenPartsResumesWithOnlyTheMissingPartsAndDecryptsByteExact()
    {
        var store = Store();
        var local = Dir.Combine("big.bin");
        var content = new byte[45 << 20];
        new Random(7).NextBytes(content);
        await File.WriteAllBytesAsync(local, content);
        var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant();
        var options = Options with { Parallelism = 2 };
        var arrived = 0;
        OffsiteCopier.AfterPart = (_, _) => { if (Interlocked.Increment(ref arrived) >= 2) throw new OperationCanceledException("connection lost"); };
        try { await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OffsiteCopier.CopyFileAsync(local, "x/big.bin.btenc", sha, store, _key, options, CancellationToken.None)); }
        finally { OffsiteCopier.AfterPart = null; }
        Assert.Null(await store.StatAsync("x/big.bin.btenc", CancellationToken.None)); // parts are not an object until completed
        var total = new PartEncryptor(_key, null, content.Length).PartCount;
        Assert.True(arrived is >= 2 && arrived < total, $"{arrived} of {total} parts arrived before the cut");

        var resumed = await OffsiteCopier.CopyFileAsync(local, "x/big.bin.btenc", sha, store, _key, options, CancellationToken.None);
        Assert.Equal((arrived, total - arrived), (resumed.PartsResumed, resumed.Parts));
        Assert.Equal(content, await ReadDecryptedAsync(store, "x/big.bin.btenc", _key));
        Assert.Empty(Directory.EnumerateFiles(options.StateDirectory)); // the resume record goes with the completed upload
    }

    [Fact]
    public async Task ACopyAskedToLockFailsWhereTheStoreCannotLockAndTheSetIsNotListed()
    {
        var store = Store();
        var set = await SnapshotAsync("locked");
        var e = await Assert.ThrowsAnyAsync<Exception>(() => OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options with { ImmutableDays = 7 }, null, CancellationToken.None));
        Assert.Matches("lock|Lock|immutab", e.Message);
        Assert.Empty(await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        Assert.False((await store.LockAvailableAsync(CancellationToken.None)).Available);
    }

    [Fact]
    public async Task ARotationRewrapsEveryObjectInItsMetadataAndBothKeysReadUntilThePolicyMoves()
    {
        var store = Store();
        var set = await SnapshotAsync("ROTATE-ME");
        await OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options, null, CancellationToken.None);
        var relative = Path.GetRelativePath(Repo, set.Path);
        var dump = $"{relative}/{set.Manifest.Files[0].Name}{OffsiteCopier.Suffix}";
        var sizeBefore = (await store.StatAsync(dump, CancellationToken.None))!.Size;
        var newKey = EncryptionKey.Generate();

        var first = await OffsiteKeyRotation.RunAsync(store, _key, newKey, null, CancellationToken.None);
        Assert.Equal((2, 0, 0), (first.Rewrapped, first.AlreadyNew, first.Failed.Count));
        Assert.Equal(sizeBefore, (await store.StatAsync(dump, CancellationToken.None))!.Size); // the bytes are as they were
        Assert.NotNull(await store.StatAsync(OffsiteRead.RewrapName(dump, newKey.Id), CancellationToken.None)); // the new wrap beside them
        foreach (var key in new[] { newKey, _key })
        {
            await using var plain = await OffsiteRead.OpenDecryptedAsync(store, dump, key, CancellationToken.None);
            using var copy = new MemoryStream();
            await plain.CopyToAsync(copy);
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(set.Path, set.Manifest.Files[0].Name)), copy.ToArray());
        }
        Assert.Single(await OffsiteCatalog.ListAsync(store, newKey, "x", CancellationToken.None));
        Assert.Single(await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None)); // the rotated headers are not sets
        // Nothing is sent again under either key; a third key reads nothing and is named.
        Assert.Equal(0, (await OffsiteCopier.CopySetAsync(Repo, set, store, newKey, Options, null, CancellationToken.None)).Sent);
        Assert.Equal(0, (await OffsiteCopier.CopySetAsync(Repo, set, store, _key, Options, null, CancellationToken.None)).Sent);
        var stranger = EncryptionKey.Generate();
        var e = await Assert.ThrowsAsync<EncryptionKeyException>(() => OffsiteCatalog.ListAsync(store, stranger, "x", CancellationToken.None));
        Assert.Contains(newKey.Id, e.Message);
        // Run again (an interrupted rotation is finished this way): nothing left to do.
        var again = await OffsiteKeyRotation.RunAsync(store, _key, newKey, null, CancellationToken.None);
        Assert.Equal((0, 2), (again.Rewrapped, again.AlreadyNew));
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OffsiteCopierCollection
{
    public const string Name = "OffsiteCopier";
}
