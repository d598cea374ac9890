namespace BackupTools.Model;

/// <summary>A backup encryption key file New-BackupEncryptionKey wrote: where it is and its id (never the key).</summary>
public sealed record EncryptionKeyInfo
{
    public required string Path { get; init; }
    /// <summary>The first 16 hex digits of the key's SHA-256: what every encrypted file records, and what a restore asks for.</summary>
    public required string KeyId { get; init; }
    public required DateTime Created { get; init; }
}

/// <summary>What Update-BackupEncryptionKey did in one offsite repository: objects re-wrapped to the new key, already under it, and failed.</summary>
public sealed record EncryptionKeyRotation
{
    public required string Offsite { get; init; }
    public required string OldKeyId { get; init; }
    public required string NewKeyId { get; init; }
    public int Rewrapped { get; init; }
    public int AlreadyNew { get; init; }
    /// <summary>Objects that could not be re-wrapped (with why); run again, or they stay readable only with the old key.</summary>
    public IReadOnlyList<string> Failed { get; init; } = [];
    public bool Complete => Failed.Count == 0;
}
