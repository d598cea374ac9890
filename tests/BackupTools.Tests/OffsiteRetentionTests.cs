using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Models;
using BackupTools.Engine.Offsite;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// Retention of an offsite repository (Azurite): the planner's rules with the offsite's own ages, manifests first, locks
/// honoured (Azurite cannot lock, so a recorder in front of it keeps the locks the copier asks for, as a locking store would).
/// </summary>
[Collection(OffsiteCopierCollection.Name)] // OffsiteCopier.AfterFile/AfterPart are process-wide test hooks
public sealed class OffsiteRetentionTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly AzuriteServer _azurite;
    private readonly RedisServer _redis;
    private readonly EncryptionKey _key = EncryptionKey.Generate();

    public OffsiteRetentionTests()
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
    private TargetPolicy Target => new()
    {
        Name = "cache", Engine = TargetEngine.Redis, Host = "127.0.0.1", Port = _redis.Port,
        Retention = new Dictionary<string, TimeSpan> { ["snapshot"] = TimeSpan.FromDays(30) },
    };
    private OffsitePolicy Offsite => new()
    {
        Name = "away", Kind = OffsiteKind.AzureBlob, ConnectionStringSource = "env:X", Container = "c",
        Retention = new Dictionary<string, TimeSpan> { ["snapshot"] = TimeSpan.FromDays(1) }, ModelVersionsKept = 1,
    };
    private BackupPolicy Policy => new()
    {
        Path = _dir.Combine("policy.yml"), Repository = Repo, Targets = [Target], Models = [new ModelPolicy("llm", _dir.Combine("llm"), 5)], ConfigPaths = [],
        Storage = new StoragePolicy(20, 10), Alerts = new AlertPolicy(), Offsite = [Offsite],
    };

    private async Task<CatalogEntry> SnapshotAsync()
    {
        var attempt = await RedisBackup.RunAsync(new BackupRequest { RepositoryRoot = Repo, Target = Target, Compression = CompressionOptions.None },
            RedisBackupMethod.Replication, CancellationToken.None);
        Assert.Null(attempt.Error);
        return BackupCatalog.List(Repo, "redis", "cache").Single(e => e.Manifest.Id == attempt.Record.Id);
    }

    private static Task<bool> Yes(string what, string action) => Task.FromResult(true);

    [Fact]
    public async Task ExpiredSetsGoManifestFirstTheNewestStaysAndLockedOnesWaitForTheirLock()
    {
        var store = new LockingStore(new AzureBlobStore(_azurite.ConnectionString, "retention"));
        var options = new OffsiteCopyOptions(_dir.Combine("state")) { ImmutableDays = 3 };
        var sets = new List<CatalogEntry>();
        for (var i = 0; i < 3; i++)
        {
            var set = await SnapshotAsync();
            await OffsiteCopier.CopySetAsync(Repo, set, store, _key, options, null, CancellationToken.None);
            sets.Add(set);
        }
        var now = DateTime.UtcNow;

        // Two days on: expired offsite (1 day) though not locally (30 days), but locked for three days: all kept.
        Assert.Empty(await OffsiteRetention.RunAsync(Policy, Offsite, store, _key, now.AddDays(2), Yes, null, dryRun: false, CancellationToken.None));
        Assert.Equal(3, (await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None)).Count);

        // Four days on, a what-if: the plan names the two older ones and nothing goes.
        store.Now = now.AddDays(4);
        var planned = await OffsiteRetention.RunAsync(Policy, Offsite, store, _key, now.AddDays(4), Yes, null, dryRun: true, CancellationToken.None);
        Assert.Equal(sets.Take(2).Select(s => s.Manifest.Id), planned.Select(d => d.Id));
        Assert.All(planned, d => Assert.False(d.Removed));
        Assert.Equal(3, (await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None)).Count);

        // For real: the two older ones go (manifest first), the newest snapshot stays, the local repository is untouched.
        var removed = await OffsiteRetention.RunAsync(Policy, Offsite, store, _key, now.AddDays(4), Yes, null, dryRun: false, CancellationToken.None);
        Assert.Equal(sets.Take(2).Select(s => s.Manifest.Id), removed.Where(d => d.Removed).Select(d => d.Id));
        Assert.Equal([Path.GetRelativePath(Repo, sets[2].Path)], await OffsiteCopier.ListCopiedSetsAsync(store, CancellationToken.None));
        var left = new List<string>();
        await foreach (var n in store.ListAsync("", CancellationToken.None)) left.Add(n);
        Assert.All(left, n => Assert.StartsWith(Path.GetRelativePath(Repo, sets[2].Path), n));
        Assert.Equal(3, BackupCatalog.List(Repo, "redis", "cache").Count);
        Assert.True(store.DeletedManifestBeforeFiles, "a set's manifest goes before its files");
    }

    [Fact]
    public async Task SetsTheOffsiteRetentionWouldRemoveAreNotCopiedBackAnHourLater()
    {
        var older = await SnapshotAsync();
        var newest = await SnapshotAsync();
        Assert.Equal(2, OffsiteStores.SetsFor(Policy, Offsite, null).Count);
        // Three days on: past the offsite's 1 day (not the local 30): the older is not taken, the newest snapshot always is.
        Assert.Equal([newest.Manifest.Id], OffsiteStores.SetsFor(Policy, Offsite, null, DateTime.UtcNow.AddDays(3)).Select(e => e.Manifest.Id));
        Assert.NotEqual(older.Manifest.Id, newest.Manifest.Id);
    }

    [Fact]
    public async Task ModelVersionsBeyondTheKeptGoAndOnlyPacksNoKeptVersionNamesWithThem()
    {
        var store = new AzureBlobStore(_azurite.ConnectionString, "models");
        var source = _dir.Combine("llm");
        Directory.CreateDirectory(source);
        await File.WriteAllBytesAsync(Path.Combine(source, "weights.bin"), RandomNumberGenerator.GetBytes(300_000));
        var options = new OffsiteCopyOptions(_dir.Combine("state"));
        foreach (var v in new[] { "1", "2", "3" })
        {
            await File.WriteAllTextAsync(Path.Combine(source, "config.json"), $"{{ \"version\": \"{v}\" }}");
            var (m, _) = await ModelBackup.RunAsync(Repo, "llm", source, null, [], false, null, CancellationToken.None);
            await OffsiteModels.CopyVersionAsync(Repo, m, store, _key, options, null, CancellationToken.None);
        }
        // Small files travel in their packs, exactly the local ones (how many: one per worker filling at once).
        var packs = (await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None)).Packs;
        Assert.InRange(packs.Count, 3, 4);
        Assert.Equal(Directory.GetFiles(Path.Combine(Repo, "models", "llm", "packs"), "*.pack").Select(p => Path.GetFileNameWithoutExtension(p)).Order(), packs.Keys.Order());
        Assert.Equal(0, await CountAsync(OffsiteModels.ListBlobsAsync(store, "llm", CancellationToken.None)));
        Assert.Equal(4, packs.Values.Sum(b => b.Count)); // the shared weights once, three configs
        // While the local repository still has every version, their blobs stay (a copy of a new version is never raced).
        var first = await OffsiteRetention.RunAsync(Policy, Offsite, store, _key, DateTime.UtcNow, Yes, null, dryRun: false, CancellationToken.None);
        Assert.Equal(["2", "1"], first.Where(d => d.Removed).Select(d => d.Id));
        Assert.Equal(["3"], (await OffsiteModels.ListVersionsAsync(store, _key, "llm", CancellationToken.None)).Select(m => m.Version));
        Assert.Equal(packs.Count, ((await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None)).Packs).Count);

        // Local versions gone: version 4 is a new local pack (weights and config 4) and goes whole, since config 4 is not there.
        Directory.Delete(Path.Combine(Repo, ModelBackup.Engine), recursive: true);
        await File.WriteAllTextAsync(Path.Combine(source, "config.json"), "{ \"version\": \"4\" }");
        var (v4, _) = await ModelBackup.RunAsync(Repo, "llm", source, null, [], false, null, CancellationToken.None);
        var copied = await OffsiteModels.CopyVersionAsync(Repo, v4, store, _key, options, null, CancellationToken.None);
        var v4Packs = Directory.GetFiles(Path.Combine(Repo, "models", "llm", "packs"), "*.pack").Length;
        // Only the local packs holding a blob not there yet (config 4), each with its index, then the version.
        Assert.Equal(1, copied.Sent % 2);
        Assert.InRange(copied.Sent, 3, 2 * v4Packs + 1);
        Directory.Delete(Path.Combine(Repo, ModelBackup.Engine), recursive: true);
        await OffsiteRetention.RunAsync(Policy, Offsite, store, _key, DateTime.UtcNow, Yes, null, dryRun: false, CancellationToken.None);
        var kept = (await OffsiteModels.ListVersionsAsync(store, _key, "llm", CancellationToken.None)).Single();
        Assert.Equal("4", kept.Version);
        // Packs holding only removed configs went (index and pack); a pack holding a kept blob stays whole.
        var left = (await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None)).Packs;
        var keptShas = kept.Files.Select(f => f.Sha256).ToHashSet();
        Assert.All(left.Values, shas => Assert.Contains(shas, keptShas.Contains));
        Assert.All(kept.Files, f => Assert.Contains(left.Values, shas => shas.Contains(f.Sha256)));
        Assert.Equal(packs.Where(p => p.Value.Any(keptShas.Contains)).Select(p => p.Key).Order(), left.Keys.Where(packs.ContainsKey).Order());
        Assert.True(left.Count < packs.Count + v4Packs, "a pack of removed configs only was removed");
        var names = new List<string>();
        await foreach (var n in store.ListAsync("_models/llm/packs/", CancellationToken.None)) names.Add(n);
        Assert.Equal(2 * left.Count, names.Count); // packs and their indexes, nothing orphaned

        // And version 4 restores from the offsite copy alone, byte for byte.
        var scratch = _dir.Combine("scratch");
        await OffsiteModels.FetchVersionAsync(store, _key, kept, scratch, null, CancellationToken.None);
        var restored = await ModelRestore.RunAsync(scratch, kept, _dir.Combine("restored"), null, null, CancellationToken.None);
        foreach (var f in new[] { "weights.bin", "config.json" })
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, f)), await File.ReadAllBytesAsync(Path.Combine(restored.Destination, f)));
    }

    [Fact]
    public async Task ADamagedPackIndexThereIsSentAgainByTheNextCopyAndAForeignNameIsRefused()
    {
        var store = new AzureBlobStore(_azurite.ConnectionString, "damaged");
        var source = _dir.Combine("llm");
        Directory.CreateDirectory(source);
        for (var i = 0; i < 20; i++) await File.WriteAllBytesAsync(Path.Combine(source, $"part-{i}.bin"), RandomNumberGenerator.GetBytes(4000));
        var options = new OffsiteCopyOptions(_dir.Combine("state"));
        var (m, _) = await ModelBackup.RunAsync(Repo, "llm", source, "1", [], false, null, CancellationToken.None);
        await OffsiteModels.CopyVersionAsync(Repo, m, store, _key, options, null, CancellationToken.None);
        var id = (await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None)).Packs.Keys.First();
        // The index there overwritten with garbage (its metadata kept): it counts as damaged, not as an error.
        var meta = (await store.StatAsync(OffsitePacks.IndexName("llm", id), CancellationToken.None))!.Metadata;
        await store.PutAsync(OffsitePacks.IndexName("llm", id), RandomNumberGenerator.GetBytes(500), meta, null, CancellationToken.None);
        if (Directory.Exists(_dir.Combine("state"))) Directory.Delete(_dir.Combine("state"), recursive: true); // no cached copy of it either
        var listing = await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None);
        Assert.Equal([id], listing.Damaged);
        // The next copy sends that pack's blobs again (the same local pack rewrites the index), and the version restores.
        var again = await OffsiteModels.CopyVersionAsync(Repo, m, store, _key, options, null, CancellationToken.None);
        Assert.True(again.Sent >= 2, $"{again.Sent} objects sent");
        Assert.Empty((await OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None)).Damaged);
        var scratch = _dir.Combine("scratch");
        await OffsiteModels.FetchVersionAsync(store, _key, m, scratch, null, CancellationToken.None);
        var restored = await ModelRestore.RunAsync(scratch, m, _dir.Combine("restored"), null, null, CancellationToken.None);
        foreach (var f in m.Files) Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, f.Path)), await File.ReadAllBytesAsync(Path.Combine(restored.Destination, f.Path)));
        // An index name that is no pack id would become a path when fetched (an S3 key may hold '..'; Azure resolves it): refused.
        await store.PutAsync("_models/llm/packs/..%2Fescape.idx" + OffsiteCopier.Suffix, new byte[10], meta, null, CancellationToken.None);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OffsitePacks.ListAsync(store, _key, "llm", null, CancellationToken.None));
        Assert.Contains("not a pack index", e.Message, StringComparison.Ordinal);
    }

    private static async Task<int> CountAsync<T>(IAsyncEnumerable<T> items)
    {
        var n = 0;
        await foreach (var _ in items) n++;
        return n;
    }

    /// <summary>A store in front of another that keeps the locks asked for (what Azure immutability or S3 Object Lock do) and refuses deletes while they run.</summary>
    private sealed class LockingStore(IRemoteStore inner) : IRemoteStore
    {
        private readonly Dictionary<string, DateTimeOffset> _locks = [];
        private readonly List<string> _deleted = [];
        public DateTime Now { get; set; } = DateTime.UtcNow;
        public bool DeletedManifestBeforeFiles => _deleted.Count > 0 && _deleted.GroupBy(d => d[..d.LastIndexOf('/')]).All(g => g.First().Contains(BackupManifest.FileName));
        public string Describe => "locking " + inner.Describe;
        public Task PutAsync(string name, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
        {
            if (lockUntil is { } u) _locks[name] = u;
            return inner.PutAsync(name, content, metadata, null, ct);
        }
        public Task<(string Token, IReadOnlyDictionary<int, string> Done)> StartPartsAsync(string name, string? resumeToken, IReadOnlyDictionary<int, string> saved,
            IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct) => inner.StartPartsAsync(name, resumeToken, saved, metadata, null, ct);
        public Task<string> PutPartAsync(string name, string token, int part, ReadOnlyMemory<byte> content, CancellationToken ct) => inner.PutPartAsync(name, token, part, content, ct);
        public Task CompletePartsAsync(string name, string token, IReadOnlyList<string> receipts, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
        {
            if (lockUntil is { } u) _locks[name] = u;
            return inner.CompletePartsAsync(name, token, receipts, metadata, null, ct);
        }
        public Task<Stream> OpenReadAsync(string name, CancellationToken ct) => inner.OpenReadAsync(name, ct);
        public async Task<RemoteObject?> StatAsync(string name, CancellationToken ct) =>
            await inner.StatAsync(name, ct) is { } o ? o with { LockedUntil = _locks.TryGetValue(name, out var u) ? u : null } : null;
        public IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);
        public async Task<bool> DeleteAsync(string name, CancellationToken ct)
        {
            if (_locks.TryGetValue(name, out var u) && u > Now) return false;
            _deleted.Add(name);
            return await inner.DeleteAsync(name, ct);
        }
        public Task<(bool Available, string Reason)> LockAvailableAsync(CancellationToken ct) => Task.FromResult((true, ""));
    }
}
