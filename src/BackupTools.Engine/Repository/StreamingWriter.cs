using System.Buffers;
using System.Security.Cryptography;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace BackupTools.Engine.Repository;

/// <summary>What one streamed file became: sizes before and after compression and both SHA-256 sums.</summary>
public sealed record WrittenFile(string Name, long RawBytes, long StoredBytes, string Compression, string Sha256, string RawSha256)
{
    /// <summary>encryption.local: the id of the key the file is stored under (also in its header); null in the clear.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? KeyId { get; init; }
}

/// <summary>Progress of a long copy: what phase, and bytes read from the source so far.</summary>
public readonly record struct TransferProgress(string Phase, long Bytes, long? TotalBytes);

/// <summary>
/// source → (zstd, multithreaded) → SHA-256 → file, in one pass with a fixed buffer, so a 1 TB backup needs the
/// same memory as a 1 MB one and the data is read exactly once.
/// </summary>
public static class StreamingWriter
{
    private const int BufferSize = 1 << 20;

    public static async Task<WrittenFile> WriteAsync(
        Stream source, string path, CompressionOptions compression,
        IProgress<TransferProgress>? progress, CancellationToken cancellationToken, long? totalBytes = null)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        using var rawHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long raw = 0;
        try
        {
            await using var file = FileModes.CreatePrivateFile(path);
            using var stored = new HashingStream(file);
            // encryption.local: compressed, then encrypted, then hashed as stored (so every check of stored bytes works without the key).
            var encrypted = compression.Encrypt is { } key ? new Encryption.EncryptingStream(stored, key, leaveOpen: true) : null;
            Stream below = (Stream?)encrypted ?? stored;
            Stream? zstd = compression.Kind == CompressionKind.Zstd ? OpenCompressor(below, compression) : null;
            var sink = zstd ?? below;
            var lastReport = 0L;
            var writtenBack = 0L;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                rawHash.AppendData(buffer, 0, read);
                await sink.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                raw += read;
                if (stored.BytesWritten - writtenBack >= WriteBehind.Interval) writtenBack = WriteBehind.Start(file, writtenBack);
                if (raw - lastReport >= 16 * BufferSize)
                {
                    progress?.Report(new TransferProgress("Writing", raw, totalBytes));
                    lastReport = raw;
                }
            }
            if (zstd is not null) await zstd.DisposeAsync(); // writes the final frame
            if (encrypted is not null) await encrypted.DisposeAsync(); // seals the last chunk
            await file.FlushAsync(cancellationToken);
            file.Flush(flushToDisk: true);
            progress?.Report(new TransferProgress("Writing", raw, totalBytes));
            return new WrittenFile(Path.GetFileName(path), raw, stored.BytesWritten,
                (compression.Kind == CompressionKind.Zstd ? "zstd" : "none") + (encrypted is null ? "" : CompressionOptions.EncryptedSuffix),
                stored.FinishHash(), Convert.ToHexString(rawHash.GetHashAndReset()).ToLowerInvariant()) { KeyId = encrypted?.KeyId };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Tests set this to exercise the managed fallback on a machine that has libzstd.</summary>
    internal static bool ForceManagedZstd { get; set; }

    /// <summary>The system's libzstd when it loads (as fast as the zstd CLI), else the managed port.</summary>
    private static Stream OpenCompressor(Stream stored, CompressionOptions compression)
    {
        if (NativeZstd.IsAvailable && !ForceManagedZstd) return new NativeZstd.CompressionStream(stored, compression.Level, compression.Workers);
        var zstd = new CompressionStream(stored, compression.Level, BufferSize, leaveOpen: true);
        zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        if (compression.Workers > 1) zstd.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, compression.Workers);
        return zstd;
    }

    /// <summary>Opens a stored file for reading its original bytes (decompressing when needed).</summary>
    public static Stream OpenRead(string path, string compression) => Decompress(OpenStored(path), compression);

    /// <summary>
    /// Opens a stored file to read its original bytes while proving the stored bytes against <paramref name="sha256"/>;
    /// call <see cref="VerifyingReadStream.VerifyToEndAsync"/> on <paramref name="verifier"/> once the data was consumed.
    /// </summary>
    public static Stream OpenVerifiedRead(string path, string compression, string sha256, out VerifyingReadStream verifier)
    {
        verifier = new VerifyingReadStream(OpenStored(path), sha256, path);
        return Decompress(verifier, compression);
    }

    private static FileStream OpenStored(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private static Stream Decompress(Stream stored, string compression)
    {
        if (compression.EndsWith(CompressionOptions.EncryptedSuffix, StringComparison.Ordinal))
        {
            stored = Encryption.DecryptingStream.WithKeyFrom(stored, Encryption.LocalKeys.Find);
            compression = compression[..^CompressionOptions.EncryptedSuffix.Length];
        }
        return compression != "zstd"
            ? stored
            : NativeZstd.IsAvailable && !ForceManagedZstd
                ? new NativeZstdDecompressionStream(stored)
                : new DecompressionStream(stored, BufferSize, checkEndOfStream: true, leaveOpen: false);
    }

    /// <summary>SHA-256 of a file as stored on disk, read once; for verification.</summary>
    public static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexString(await SHA256.HashDataAsync(file, cancellationToken)).ToLowerInvariant();
    }
}
