using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Repository;

namespace BackupTools.Tests;

/// <summary>Names a store lists are data from elsewhere: only engine/target/type/id can become a local path, and a manifest must be stored under its own name.</summary>
[Collection(LocalKeysCollection.Name)] // the keyring is one per process: its tests never run side by side
public sealed class OffsiteNamesTests
{
    [Theory]
    [InlineData("mariadb/main-db/full/20261130T000000Z-1a2b3c4d", true)]
    [InlineData("/etc/cron.d/x", false)]
    [InlineData("../../etc/x", false)]
    [InlineData("mariadb/../../x", false)]
    [InlineData("mariadb/main-db/full", false)]
    [InlineData("a/b/c/d/e", false)]
    [InlineData("_models/llm/versions/1", false)]
    [InlineData("mariadb//full/x", false)]
    public void OnlyAPlainFourPartNameIsASetsPlace(string name, bool expected) => Assert.Equal(expected, OffsiteCopier.IsSetPath(name));

    [Fact]
    public async Task AListedNameLeadingOutIsNoSetAndAManifestUnderAnotherSetsNameIsRefused()
    {
        var key = EncryptionKey.Generate();
        var store = new MemoryStore();
        var manifest = System.Text.Encoding.UTF8.GetBytes(
            """{"id":"20261130T000000Z-1a2b3c4d","engine":"redis","target":"cache","type":"snapshot","startTime":"2026-11-30T00:00:00Z","endTime":"2026-11-30T00:00:01Z","files":[]}""");
        var sealedManifest = new MemoryStream();
        await using (var enc = new EncryptingStream(sealedManifest, key, leaveOpen: true)) await enc.WriteAsync(manifest);
        var bytes = sealedManifest.ToArray();
        var meta = new Dictionary<string, string> { [OffsiteCopier.KeyIdKey] = key.Id };
        await store.PutAsync("/etc/cron.d/evil/manifest.json.btenc", bytes, meta, null, CancellationToken.None);
        await store.PutAsync("redis/cache/snapshot/20261130T000000Z-1a2b3c4d/manifest.json.btenc", bytes, meta, null, CancellationToken.None);
        Assert.Equal(["redis/cache/snapshot/20261130T000000Z-1a2b3c4d"], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        Assert.Single(await OffsiteCatalog.ListAsync(store, key, "x", CancellationToken.None));

        // The same manifest moved under another set's name.
        await store.PutAsync("redis/cache/snapshot/20991231T000000Z-ffffffff/manifest.json.btenc", bytes, meta, null, CancellationToken.None);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OffsiteCatalog.ListAsync(store, key, "x", CancellationToken.None));
        Assert.Contains("stored under another name", e.Message);
    }

    [Fact]
    public async Task AnObjectUnderAPreviousKeyOfThePolicyIsReadAndOneUnderAStrangersKeyIsNamed()
    {
        var previous = EncryptionKey.Generate();
        var current = EncryptionKey.Generate();
        var store = new MemoryStore();
        var sealedBytes = new MemoryStream();
        await using (var enc = new EncryptingStream(sealedBytes, previous, leaveOpen: true)) await enc.WriteAsync("payload"u8.ToArray());
        await store.PutAsync("o.btenc", sealedBytes.ToArray(), new Dictionary<string, string> { [OffsiteCopier.KeyIdKey] = previous.Id }, null, CancellationToken.None);
        try
        {
            LocalKeys.Use([("test:previous", () => previous), ("test:current", () => current)]);
            await using (var plain = await OffsiteRead.OpenDecryptedAsync(store, "o.btenc", current, CancellationToken.None))
            using (var copy = new MemoryStream())
            {
                await plain.CopyToAsync(copy);
                Assert.Equal("payload"u8.ToArray(), copy.ToArray());
            }
            LocalKeys.Use([("test:current", () => current)]); // a policy without that previous key
            var e = await Assert.ThrowsAsync<EncryptionKeyException>(() => OffsiteRead.OpenDecryptedAsync(store, "o.btenc", current, CancellationToken.None));
            Assert.Contains(previous.Id, e.Message);
        }
        finally { LocalKeys.Use([]); }
    }

    [Fact]
    public void AnAzureStoreDescribedInMessagesNeverCarriesItsSasToken()
    {
        var store = new AzureBlobStore("BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig=TOPSECRETSIGNATURE", "backups");
        Assert.DoesNotContain("TOPSECRET", store.Describe);
        Assert.Contains("https://acct.blob.core.windows.net/backups", store.Describe);
    }

    [Fact]
    public void PartsStayWithinS3sTenThousandWhateverTheSize()
    {
        var key = EncryptionKey.Generate();
        Assert.Equal(8, new PartEncryptor(key, null, 100L << 20).ChunksPerPart);
        var huge = new PartEncryptor(key, null, 200L << 30); // 200 GiB
        Assert.True(huge.PartCount <= 9_000, $"{huge.PartCount} parts");
        Assert.Equal(PartEncryptor.CipherLengthOf(200L << 30), huge.CipherLength);
    }

    /// <summary>A store in memory that lists whatever names it was given, as a hostile one may.</summary>
    private sealed class MemoryStore : IRemoteStore
    {
        private readonly ConcurrentDictionary<string, (byte[] Bytes, Dictionary<string, string> Meta)> _objects = new(StringComparer.Ordinal);
        public string Describe => "memory";
        public Task PutAsync(string name, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
        {
            _objects[name] = (content.ToArray(), metadata.ToDictionary());
            return Task.CompletedTask;
        }
        public Task<(string Token, IReadOnlyDictionary<int, string> Done)> StartPartsAsync(string name, string? resumeToken, IReadOnlyDictionary<int, string> saved,
            IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct) => throw new NotSupportedException();
        public Task<string> PutPartAsync(string name, string token, int part, ReadOnlyMemory<byte> content, CancellationToken ct) => throw new NotSupportedException();
        public Task CompletePartsAsync(string name, string token, IReadOnlyList<string> receipts, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task<Stream> OpenReadAsync(string name, CancellationToken ct) => Task.FromResult<Stream>(new MemoryStream(_objects[name].Bytes));
        public Task<RemoteObject?> StatAsync(string name, CancellationToken ct) =>
            Task.FromResult(_objects.TryGetValue(name, out var o) ? new RemoteObject(o.Bytes.Length, o.Meta, null) : null);
        public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Yield();
            foreach (var n in _objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)) yield return n;
        }
        public Task<bool> DeleteAsync(string name, CancellationToken ct) => Task.FromResult(_objects.TryRemove(name, out _));
        public Task<(bool Available, string Reason)> LockAvailableAsync(CancellationToken ct) => Task.FromResult((false, "memory"));
    }
}
