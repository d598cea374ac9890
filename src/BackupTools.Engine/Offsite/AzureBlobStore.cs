using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// An Azure Blob container (optionally under a prefix) as a remote repository. Large objects are staged as blocks
/// named by an upload token and their number: uncommitted blocks stay in the service for a week, so a copy cut short
/// resumes with the blocks that arrived, and blocks of another attempt never match. Locks are version-level
/// immutability policies (the container needs immutable storage with versioning).
/// </summary>
public sealed class AzureBlobStore : IRemoteStore
{
    private readonly BlobContainerClient _container;
    private readonly string _prefix;
    private bool _created;

    // Retries with a short back-off: a store that does not answer is reported in seconds (the SDK's default spends
    // over 20 s on a refused connection); a copy that fails is taken up again by the next hourly run, where it stopped.
    private static BlobClientOptions Options()
    {
        var o = new BlobClientOptions();
        o.Retry.MaxRetries = 3;
        o.Retry.Delay = TimeSpan.FromMilliseconds(500);
        o.Retry.MaxDelay = TimeSpan.FromSeconds(4);
        o.Retry.Mode = RetryMode.Exponential;
        return o;
    }

    public AzureBlobStore(string connectionString, string container, string prefix = "")
    {
        _container = new BlobContainerClient(connectionString, container, Options());
        _prefix = prefix;
    }

    /// <summary>An account URL with a token credential: in Azure Automation, the account's managed identity.</summary>
    public AzureBlobStore(Uri accountUrl, TokenCredential credential, string container, string prefix = "")
    {
        _container = new BlobContainerClient(new Uri(accountUrl.ToString().TrimEnd('/') + "/" + container), credential, Options());
        _prefix = prefix;
    }

    // Without the query: a SAS connection string puts its token (sig=…) there, and this goes into messages and logs.
    public string Describe => $"Azure container {_container.Uri.GetLeftPart(UriPartial.Path)}{(_prefix.Length > 0 ? " under " + _prefix : "")}";

    private BlockBlobClient Blob(string name) => _container.GetBlockBlobClient(_prefix + name);

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (_created) return;
        await _container.CreateIfNotExistsAsync(cancellationToken: ct);
        _created = true;
    }

    private static BlobImmutabilityPolicy? Lock(DateTimeOffset? until) =>
        until is { } u ? new BlobImmutabilityPolicy { ExpiresOn = u, PolicyMode = BlobImmutabilityPolicyMode.Locked } : null;

    public async Task PutAsync(string name, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
    {
        await EnsureContainerAsync(ct);
        await Blob(name).UploadAsync(new MemoryStream(content.ToArray(), writable: false), new BlobUploadOptions
        {
            Metadata = metadata.ToDictionary(),
            ImmutabilityPolicy = Lock(lockUntil),
            TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
        }, ct);
    }

    // Block ids are base64 of one length within a blob: the token (16 hex) and the part number (8 digits).
    private static string BlockId(string token, int part) => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{token}{part:D8}"));

    public async Task<(string Token, IReadOnlyDictionary<int, string> Done)> StartPartsAsync(string name, string? resumeToken, IReadOnlyDictionary<int, string> saved,
        IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
    {
        await EnsureContainerAsync(ct);
        var done = new Dictionary<int, string>();
        if (resumeToken is null) return (Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant(), done);
        try
        {
            var list = await Blob(name).GetBlockListAsync(BlockListTypes.Uncommitted, cancellationToken: ct);
            foreach (var block in list.Value.UncommittedBlocks)
            {
                var id = Encoding.ASCII.GetString(Convert.FromBase64String(block.Name));
                if (id.Length == 24 && id.StartsWith(resumeToken, StringComparison.Ordinal) && int.TryParse(id[16..], out var part)) done[part] = block.Name;
            }
        }
        catch (RequestFailedException e) when (e.Status == 404) { } // nothing staged (or the week passed): all parts again
        return (resumeToken, done);
    }

    public async Task<string> PutPartAsync(string name, string token, int part, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var id = BlockId(token, part);
        await Blob(name).StageBlockAsync(id, new MemoryStream(content.ToArray(), writable: false), new BlockBlobStageBlockOptions
        {
            TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
        }, ct);
        return id;
    }

    public async Task CompletePartsAsync(string name, string token, IReadOnlyList<string> receipts, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct) =>
        await Blob(name).CommitBlockListAsync(receipts, new CommitBlockListOptions
        {
            Metadata = metadata.ToDictionary(),
            ImmutabilityPolicy = Lock(lockUntil),
        }, ct);

    public async Task<Stream> OpenReadAsync(string name, CancellationToken ct) => (await Blob(name).DownloadStreamingAsync(cancellationToken: ct)).Value.Content;

    public async Task<RemoteObject?> StatAsync(string name, CancellationToken ct)
    {
        try
        {
            var p = (await Blob(name).GetPropertiesAsync(cancellationToken: ct)).Value;
            return new RemoteObject(p.ContentLength, p.Metadata.ToDictionary(), p.ImmutabilityPolicy?.ExpiresOn);
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        var items = _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, _prefix + prefix, ct);
        await using var e = items.GetAsyncEnumerator(ct);
        while (true)
        {
            try { if (!await e.MoveNextAsync()) yield break; }
            catch (RequestFailedException x) when (x.Status == 404) { yield break; } // no container yet: nothing there
            yield return e.Current.Name[_prefix.Length..];
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken ct)
    {
        try
        {
            await Blob(name).DeleteIfExistsAsync(cancellationToken: ct);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 409 && e.ErrorCode is "BlobImmutableDueToPolicy" or "BlobImmutableDueToLegalHold") { return false; }
    }

    public async Task<(bool Available, string Reason)> LockAvailableAsync(CancellationToken ct)
    {
        try
        {
            var p = (await _container.GetPropertiesAsync(cancellationToken: ct)).Value;
            return p.HasImmutableStorageWithVersioning
                ? (true, "")
                : (false, $"{Describe} does not have immutable storage with versioning enabled (az storage container-rm create --enable-vlw), so objects cannot be locked there");
        }
        catch (RequestFailedException e) when (e.Status == 404) { return (false, $"{Describe} does not exist yet; create it with version-level immutability to lock objects"); }
    }
}
