namespace BackupTools.Model;

/// <summary>A backup encryption key file New-BackupEncryptionKey wrote: where it is and its id (never the key).</summary>
public sealed record EncryptionKeyInfo
{
    public required string Path { get; init; }
    /// <summary>The first 16 hex digits of the key's SHA-256: what every encrypted file records, and what a restore asks for.</summary>
    public required string KeyId { get; init; }
    public required DateTime Created { get; init; }
}
