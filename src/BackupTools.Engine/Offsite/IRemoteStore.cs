namespace BackupTools.Engine.Offsite;

/// <summary>
/// A remote repository as the copier needs it: named objects (relative to the repository's prefix) written whole from
/// a stream with a little metadata, read back, listed and removed. Azure Blob and S3 implement it.
/// </summary>
public interface IRemoteStore
{
    /// <summary>Where it is, for messages (never a secret).</summary>
    string Describe { get; }

    /// <summary>Writes an object (replacing one of the same name), in parts, from a stream read once.</summary>
    Task PutAsync(string name, Stream content, IReadOnlyDictionary<string, string> metadata, CancellationToken ct);

    Task<Stream> OpenReadAsync(string name, CancellationToken ct);

    /// <summary>An object's metadata, or null when there is no such object.</summary>
    Task<IReadOnlyDictionary<string, string>?> MetadataAsync(string name, CancellationToken ct);

    /// <summary>The names of the objects under a prefix.</summary>
    IAsyncEnumerable<string> ListAsync(string prefix, CancellationToken ct);

    Task DeleteAsync(string name, CancellationToken ct);
}
