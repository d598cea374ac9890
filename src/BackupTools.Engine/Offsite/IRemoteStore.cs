namespace BackupTools.Engine.Offsite;

/// <summary>
/// A remote repository as the copier needs it: named objects (relative to the repository's prefix), written whole
/// when small or in numbered parts when large (so an upload cut short resumes with the parts that arrived), read back,
/// listed and removed. Every part and small object carries its MD5, which the store checks on arrival. Azure Blob
/// (blocks) and S3 (multipart uploads) implement it.
/// </summary>
public interface IRemoteStore
{
    /// <summary>Where it is, for messages (never a secret).</summary>
    string Describe { get; }

    /// <summary>Writes a small object whole, replacing one of the same name, locked until <paramref name="lockUntil"/> when given.</summary>
    Task PutAsync(string name, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct);

    /// <summary>
    /// Starts a part upload, or resumes the one <paramref name="resumeToken"/> names: returns its token (kept by the
    /// caller to resume after a crash) and the parts already there with their receipts. The store's own list is the
    /// truth where it has one; <paramref name="saved"/> (the receipts the caller recorded) stands in where it has not.
    /// A token the store no longer knows starts afresh.
    /// </summary>
    Task<(string Token, IReadOnlyDictionary<int, string> Done)> StartPartsAsync(string name, string? resumeToken, IReadOnlyDictionary<int, string> saved,
        IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct);

    /// <summary>Sends part <paramref name="part"/> (from 0); returns its receipt (S3's ETag, Azure's block id).</summary>
    Task<string> PutPartAsync(string name, string token, int part, ReadOnlyMemory<byte> content, CancellationToken ct);

    /// <summary>Makes the parts, in order, the object: until then nobody sees it.</summary>
    Task CompletePartsAsync(string name, string token, IReadOnlyList<string> receipts, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct);

    Task<Stream> OpenReadAsync(string name, CancellationToken ct);

    /// <summary>An object's metadata and size, or null when there is no such object.</summary>
    Task<RemoteObject?> StatAsync(string name, CancellationToken ct);

    /// <summary>The names of the objects under a prefix.</summary>
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct);

    /// <summary>Removes an object; false when its lock does not allow it yet (it stays).</summary>
    Task<bool> DeleteAsync(string name, CancellationToken ct);

    /// <summary>Whether objects can be written locked here (Azure version-level immutability, S3 Object Lock), and why not.</summary>
    Task<(bool Available, string Reason)> LockAvailableAsync(CancellationToken ct);
}

/// <summary>What a store says about one object.</summary>
public sealed record RemoteObject(long Size, IReadOnlyDictionary<string, string> Metadata, DateTimeOffset? LockedUntil);
