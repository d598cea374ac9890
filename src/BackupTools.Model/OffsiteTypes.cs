namespace BackupTools.Model;

public enum OffsiteKind { AzureBlob, S3 }

/// <summary>
/// offsite.&lt;name&gt;: a remote repository a copy of the sets goes to. Secrets only by where they come from
/// ("env:X" / "file:/p"), never the secret itself.
/// </summary>
public sealed record OffsitePolicy
{
    public required string Name { get; init; }
    public required OffsiteKind Kind { get; init; }
    /// <summary>Azure: the connection string's source; null with AccountUrl means the default credential chain (managed identity).</summary>
    public string? ConnectionStringSource { get; init; }
    public string? AccountUrl { get; init; }
    public string? Container { get; init; }
    /// <summary>S3: the endpoint (null for AWS itself), bucket, region and key sources; null keys mean the default credential chain.</summary>
    public string? Endpoint { get; init; }
    public string? Bucket { get; init; }
    public string? Region { get; init; }
    public string? AccessKeyIdSource { get; init; }
    public string? SecretAccessKeySource { get; init; }
    /// <summary>A path prefix under the container or bucket ("prod/"), or empty.</summary>
    public string Prefix { get; init; } = "";
    /// <summary>Which targets and models are copied: null means all.</summary>
    public IReadOnlyList<string>? Copies { get; init; }
    /// <summary>How long copies of each type are kept there (model: how many versions); absent types keep the local rule.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Retention { get; init; } = new Dictionary<string, TimeSpan>();
    public int? ModelVersionsKept { get; init; }
    /// <summary>Objects are written locked (Azure immutability, S3 Object Lock) for this many days.</summary>
    public int? ImmutableDays { get; init; }
    public double? MaxMBps { get; init; }
    /// <summary>A copy lag past this is a Warning.</summary>
    public TimeSpan? MaxLag { get; init; }
}

/// <summary>encryption: the key every offsite copy (and, when Local, the local repository) is encrypted with.</summary>
public sealed record EncryptionPolicy
{
    /// <summary>"file:/p" or "env:X"; never the key.</summary>
    public required string KeySource { get; init; }
    public bool Local { get; init; }
    /// <summary>Keys local sets were stored under before a rotation ("file:/p"): read with, never written with.</summary>
    public IReadOnlyList<string> PreviousKeySources { get; init; } = [];
}

/// <summary>One set's copy to an offsite repository (Copy-BackupSet).</summary>
public sealed record OffsiteCopyResult
{
    public required string Offsite { get; init; }
    public required string Engine { get; init; }
    public required string Target { get; init; }
    public required string Type { get; init; }
    public required string Id { get; init; }
    public required BackupOutcome Status { get; init; }
    /// <summary>Files sent now, and files that were already there (same content and key: not sent again).</summary>
    public int Sent { get; init; }
    public int AlreadyThere { get; init; }
    public long BytesSent { get; init; }
    /// <summary>Parts of large files found there from a copy cut short (not sent again).</summary>
    public int PartsResumed { get; init; }
    public TimeSpan Duration { get; init; }
    public string? Error { get; init; }
    public string? PolicyPath { get; init; }
}

/// <summary>
/// How far an offsite repository is behind the local one (Get-BackupStatus): the published sets and model versions not
/// copied yet, the age of the oldest of them, the bytes behind, and the last copy's outcome. Times are UTC.
/// </summary>
public sealed record OffsiteStatus
{
    public required string Offsite { get; init; }
    public required OffsiteKind Kind { get; init; }
    /// <summary>Ok, Delayed (lag past maxLag), Failed (the last copy failed) or Never (nothing copied yet while sets wait).</summary>
    public required BackupState State { get; init; }
    public required AlertSeverity Severity { get; init; }
    public int PendingSets { get; init; }
    public long PendingBytes { get; init; }
    /// <summary>When the oldest set not copied yet was published.</summary>
    public DateTime? OldestPending { get; init; }
    /// <summary>Its age: how much would be lost with the host now.</summary>
    public TimeSpan Lag { get; init; }
    public TimeSpan MaxLag { get; init; }
    public DateTime? LastSuccess { get; init; }
    public DateTime? LastFailure { get; init; }
    public string? LastError { get; init; }
    public string? Message { get; init; }
    public DateTime AsOf { get; init; }
    public string? PolicyPath { get; init; }
}
