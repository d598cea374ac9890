namespace BackupTools.Engine.Repository;

public enum CompressionKind { None, Zstd }

/// <summary>How a stream is stored: zstd at a level with worker threads (from the policy), or as is.</summary>
public sealed record CompressionOptions(CompressionKind Kind, int Level = 3, int Workers = 0)
{
    /// <summary>encryption.local: the stored bytes are BTENC1 under this key (after compression), so nothing of a set is on disk in the clear.</summary>
    public Encryption.EncryptionKey? Encrypt { get; init; }

    /// <summary>The marker a file's compression field carries when it is stored encrypted ("zstd+btenc", "none+btenc").</summary>
    public const string EncryptedSuffix = "+btenc";

    public static CompressionOptions Default { get; } = new(CompressionKind.Zstd, 3, Math.Max(1, Environment.ProcessorCount));
    public static CompressionOptions None { get; } = new(CompressionKind.None);

    /// <summary>The policy's <c>storage.compression</c>, <c>compressionLevel</c> and <c>compressionThreads</c>.</summary>
    public static CompressionOptions FromPolicy(BackupTools.Model.StoragePolicy storage) => storage.Compression == "none"
        ? None
        : new(CompressionKind.Zstd, storage.CompressionLevel,
            storage.CompressionThreads > 0 ? storage.CompressionThreads : Math.Max(1, Environment.ProcessorCount));

    public string FileSuffix => (Kind == CompressionKind.Zstd ? ".zst" : "") + (Encrypt is null ? "" : ".btenc");
}
