using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// An Azure Blob container (optionally under a prefix) as a remote repository. Uploads go in blocks (the SDK's
/// parallel block upload), so a large set never has to fit in memory.
/// </summary>
public sealed class AzureBlobStore : IRemoteStore
{
    private readonly BlobContainerClient _container;
    private readonly string _prefix;
    private bool _created;

    public AzureBlobStore(string connectionString, string container, string prefix = "")
    {
        _container = new BlobContainerClient(connectionString, container);
        _prefix = prefix;
    }

    public string Describe => $"Azure container {_container.Uri}{(_prefix.Length > 0 ? " under " + _prefix : "")}";

    private BlobClient Blob(string name) => _container.GetBlobClient(_prefix + name);

    public async Task PutAsync(string name, Stream content, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
    {
        if (!_created)
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: ct);
            _created = true;
        }
        await Blob(name).UploadAsync(content, new BlobUploadOptions
        {
            Metadata = metadata.ToDictionary(),
            TransferOptions = new Azure.Storage.StorageTransferOptions { InitialTransferSize = 4 << 20, MaximumTransferSize = 4 << 20, MaximumConcurrency = 4 },
        }, ct);
    }

    public async Task<Stream> OpenReadAsync(string name, CancellationToken ct) => (await Blob(name).DownloadStreamingAsync(cancellationToken: ct)).Value.Content;

    public async Task<IReadOnlyDictionary<string, string>?> MetadataAsync(string name, CancellationToken ct)
    {
        try { return (await Blob(name).GetPropertiesAsync(cancellationToken: ct)).Value.Metadata.ToDictionary(); }
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

    public async Task DeleteAsync(string name, CancellationToken ct) => await Blob(name).DeleteIfExistsAsync(cancellationToken: ct);
}
