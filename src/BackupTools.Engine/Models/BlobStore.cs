using System.Buffers;
using System.Security.Cryptography;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>
/// Content-addressed storage for model files: each distinct content is stored once, under the SHA-256 of its bytes
/// (<c>blobs/ab/abcdef…</c>), so versions that share files share their blobs. A blob is written to a temporary name,
/// flushed to disk, read back against its hash, and only then renamed to its final name: a crash never leaves a corrupt
/// blob under a final name.
/// </summary>
/// <param name="encrypt">encryption.local: new blobs are stored BTENC1 under this key (&lt;sha&gt;.btenc, named by the
/// plaintext's hash as ever); blobs stored in the clear before stay as they are, and both read the same.</param>
public sealed class BlobStore(string directory, Encryption.EncryptionKey? encrypt = null)
{
    private const int BufferSize = 1 << 20;
    public const string EncryptedSuffix = ".btenc";

    public string Directory { get; } = directory;

    private PackStore? _packs;

    /// <summary>The model's packs (<c>packs/</c> beside <c>blobs/</c>): small blobs stored many to a file.</summary>
    public PackStore Packs => _packs ??= new PackStore(Path.Combine(Path.GetDirectoryName(Directory.TrimEnd('/'))!, "packs"), KeyFor);

    private string PlainPathOf(string sha256) => Path.Combine(Directory, sha256[..2], sha256);

    private bool HasFile(string sha256) => File.Exists(PlainPathOf(sha256)) || File.Exists(PlainPathOf(sha256) + EncryptedSuffix);

    /// <summary>Whether the blob is stored in a pack (not as a file of its own).</summary>
    public bool IsPacked(string sha256) => !HasFile(sha256) && Packs.Contains(sha256);

    /// <summary>Where the blob is stored: encrypted or in the clear, whichever is there (the encrypted name when neither is).</summary>
    public string PathOf(string sha256) =>
        File.Exists(PlainPathOf(sha256)) ? PlainPathOf(sha256) : PlainPathOf(sha256) + (encrypt is not null || File.Exists(PlainPathOf(sha256) + EncryptedSuffix) ? EncryptedSuffix : "");

    public bool IsEncrypted(string sha256) => PathOf(sha256).EndsWith(EncryptedSuffix, StringComparison.Ordinal);

    // The packs first: an in-memory lookup, where a blob file is two stats (most blobs of training data are packed).
    public bool Contains(string sha256) => Packs.Contains(sha256) || HasFile(sha256);

    /// <summary>The SHA-256 a blob file's name says (the plaintext's), with or without the encrypted suffix.</summary>
    public static string ShaOfFileName(string fileName) =>
        fileName.EndsWith(EncryptedSuffix, StringComparison.Ordinal) ? fileName[..^EncryptedSuffix.Length] : fileName;

    /// <summary>The blob's original bytes (decrypted with the key its header names when it is stored encrypted).</summary>
    public Stream OpenPlain(string sha256)
    {
        if (IsPacked(sha256)) return Packs.Open(sha256); // a range of its pack
        var path = PathOf(sha256);
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan | FileOptions.Asynchronous);
        return path.EndsWith(EncryptedSuffix, StringComparison.Ordinal) ? Encryption.DecryptingStream.WithKeyFrom(file, KeyFor) : file;
    }

    private Encryption.EncryptionKey KeyFor(string keyId) => encrypt is { } k && k.Id == keyId ? k : Encryption.LocalKeys.Find(keyId);

    /// <summary>Copies <paramref name="sourcePath"/> in, hashing in the same pass. Returns its hash and whether new bytes were written.</summary>
    public async Task<(string Sha256, long Bytes, bool Written)> AddAsync(string sourcePath, IProgress<long>? progress, CancellationToken ct,
        Func<FileStream>? open = null)
    {
        var temp = Path.Combine(Directory, "tmp");
        FileModes.CreatePrivateDirectory(Directory);
        FileModes.CreatePrivateDirectory(temp);
        var tempPath = Path.Combine(temp, Guid.NewGuid().ToString("N"));
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            await using (var source = open?.Invoke() ?? new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var file = FileModes.CreatePrivateFile(tempPath))
            await using (var sealing = encrypt is null ? null : new Encryption.EncryptingStream(file, encrypt, leaveOpen: true))
            {
                Stream target = (Stream?)sealing ?? file;
                var writtenBack = 0L;
                int n;
                while ((n = await source.ReadAsync(buffer.AsMemory(0, BufferSize), ct)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await target.WriteAsync(buffer.AsMemory(0, n), ct);
                    total += n;
                    progress?.Report(n);
                    if (total - writtenBack >= WriteBehind.Interval) writtenBack = WriteBehind.Start(file, writtenBack);
                }
                if (sealing is not null) await sealing.DisposeAsync(); // the last chunk, before the flush to disk
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            var sha = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
            if (Contains(sha))
            {
                File.Delete(tempPath); // the same content is already stored: nothing new
                return (sha, total, false);
            }
            return (sha, total, await PublishAsync(tempPath, sha, $"'{sourcePath}'", ct));
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Files of ChunkThreshold or more are stored as chunks of this size (see ModelFile.Blobs).</summary>
    public const int ChunkSize = 4 << 20;

    /// <summary>
    /// Smaller files stay one blob: storing one again costs less than this, and each chunk is a file here and an object
    /// offsite. Checkpoint shards, where chunks pay, are gigabytes.
    /// </summary>
    public const long ChunkThreshold = 64 << 20;

    /// <summary>
    /// Copies a large file in as fixed-size chunks, each a blob of its own (only those not stored already are
    /// written), hashing the whole content in the same pass. Fixed offsets, not content-defined ones: a checkpoint's
    /// tensors are rewritten in place, at the same offsets, so the chunks of unchanged tensors are the same bytes; a
    /// tensor of 8 MB changed costs at most three chunks (bench/CheckpointDedup.Bench.ps1 measures it against restic's).
    /// </summary>
    public async Task<(string Sha256, long Bytes, long NewBytes, IReadOnlyList<string> Chunks)> AddChunkedAsync(string sourcePath, IProgress<long>? progress,
        CancellationToken ct, Func<FileStream>? open = null)
    {
        // One buffer per file (a few large files at a time): a pooled one, since 4 MB arrays are large-object-heap ones.
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        // Each new chunk is written and its writeback started at once; its fsync, read-back and rename run behind, a few
        // at a time, while the next chunks are read and hashed. Chunk by chunk in line, a 716 MB file took twice as long.
        var sealing = new Queue<(Task<bool> Sealed, long Bytes)>();
        var queued = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var chunks = new List<string>();
            long total = 0, written = 0;
            await using (var source = open?.Invoke() ?? new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan))
                while (true)
                {
                    var n = await source.ReadAtLeastAsync(buffer.AsMemory(0, ChunkSize), ChunkSize, throwOnEndOfStream: false, ct);
                    if (n == 0 && chunks.Count > 0) break; // (a file emptied since the walk is one empty chunk, stored as any blob)
                    var chunk = buffer.AsMemory(0, n);
                    whole.AppendData(chunk.Span);
                    var sha = Convert.ToHexString(SHA256.HashData(chunk.Span)).ToLowerInvariant();
                    if (!queued.Contains(sha) && !Contains(sha))
                    {
                        var temp = await WriteTempAsync(chunk, ct);
                        queued.Add(sha);
                        sealing.Enqueue((Task.Run(() => SealAsync(sha, temp, ct), ct), n));
                        while (sealing.Count > 4) written += await Next(sealing);
                    }
                    chunks.Add(sha);
                    total += n;
                    progress?.Report(n);
                    if (n < ChunkSize) break;
                }
            while (sealing.Count > 0) written += await Next(sealing);
            return (Convert.ToHexString(whole.GetHashAndReset()).ToLowerInvariant(), total, written, chunks);
        }
        catch
        {
            // Nothing left running behind a failure (their temporary files are the next run's to remove).
            try { await Task.WhenAll(sealing.Select(s => s.Sealed)); } catch (Exception) { }
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        static async Task<long> Next(Queue<(Task<bool> Sealed, long Bytes)> queue)
        {
            var (task, bytes) = queue.Dequeue();
            return await task ? bytes : 0;
        }
    }

    /// <summary>Writes bytes to a new temporary file (sealed when encryption.local is on) and starts their writeback; not yet flushed.</summary>
    private async Task<string> WriteTempAsync(ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var temp = Path.Combine(Directory, "tmp");
        FileModes.CreatePrivateDirectory(Directory);
        FileModes.CreatePrivateDirectory(temp);
        var tempPath = Path.Combine(temp, Guid.NewGuid().ToString("N"));
        try
        {
            await using var file = FileModes.CreatePrivateFile(tempPath, bufferSize: 0);
            if (encrypt is null) await file.WriteAsync(content, ct);
            else
            {
                await using var sealing = new Encryption.EncryptingStream(file, encrypt, leaveOpen: true);
                await sealing.WriteAsync(content, ct);
            }
            WriteBehind.Start(file, 0);
            return tempPath;
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }

    /// <summary>
    /// A temporary file flushed to disk, read back against the SHA-256 its plaintext must have, and renamed to that
    /// blob's name: a crash never leaves a damaged blob under a final name. False when the blob was there already.
    /// </summary>
    private async Task<bool> SealAsync(string sha256, string tempPath, CancellationToken ct)
    {
        try
        {
            using (var file = new FileStream(tempPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 0))
                file.Flush(flushToDisk: true);
            return await PublishAsync(tempPath, sha256, "A chunk", ct);
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }

    /// <summary>
    /// A flushed temporary file read back against the SHA-256 its plaintext must have, then renamed to that blob's name
    /// (never over one). False when the blob got there first, from another file with the same content.
    /// </summary>
    private async Task<bool> PublishAsync(string tempPath, string sha256, string what, CancellationToken ct)
    {
        var readBack = await HashPlainAsync(tempPath, encrypt is not null, ct);
        if (readBack != sha256)
            throw new BackupVerificationException($"{what} was copied, but the copy reads back with SHA-256 {readBack} instead of {sha256}; check the disk.");
        var final = PlainPathOf(sha256) + (encrypt is null ? "" : EncryptedSuffix);
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(final)!);
        try { File.Move(tempPath, final, overwrite: false); }
        catch (IOException) when (Contains(sha256))
        {
            File.Delete(tempPath);
            return false;
        }
        return true;
    }

    /// <summary>A file's content from its blobs (its chunks one after another, or its one blob).</summary>
    public Stream OpenFile(ModelFile file) =>
        file.Chunks is { } chunks ? new ChunkedStream(chunks.Select(c => (Func<Stream>)(() => OpenPlain(c))).ToList()) : OpenPlain(file.Sha256);

    /// <summary>Whether a stored blob still hashes to its name (its plaintext: an encrypted one is decrypted, and authenticated, on the way).</summary>
    public async Task<bool> VerifyAsync(string sha256, CancellationToken ct)
    {
        if (IsPacked(sha256)) return await Packs.VerifyAsync(sha256, ct); // a pack cut short is an IOException there: false
        if (!Contains(sha256)) return false;
        try { return await HashPlainAsync(PathOf(sha256), IsEncrypted(sha256), ct) == sha256; }
        catch (Encryption.EncryptedDataException) { return false; } // a flipped byte fails authentication: damaged
    }

    private async Task<string> HashPlainAsync(string path, bool encrypted, CancellationToken ct)
    {
        if (!encrypted) return await StreamingWriter.HashFileAsync(path, ct);
        await using var plain = Encryption.DecryptingStream.WithKeyFrom(
            new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan | FileOptions.Asynchronous), KeyFor);
        return Convert.ToHexString(await SHA256.HashDataAsync(plain, ct)).ToLowerInvariant();
    }

    /// <summary>Temporary files left by a crashed copy.</summary>
    public void RemoveLeftovers()
    {
        var temp = Path.Combine(Directory, "tmp");
        if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
        Packs.RemoveLeftovers();
    }
}

/// <summary>Streams one after another, each opened when the one before ends (a chunked file's blobs).</summary>
internal sealed class ChunkedStream(IReadOnlyList<Func<Stream>> parts) : ReadOnlyStream
{
    private int _next;
    private Stream? _current;

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            if (_current is null)
            {
                if (_next == parts.Count || buffer.Length == 0) return 0;
                _current = parts[_next++]();
            }
            var n = _current.Read(buffer);
            if (n > 0) return n;
            _current.Dispose();
            _current = null;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_current is null)
            {
                if (_next == parts.Count || buffer.Length == 0) return 0;
                _current = parts[_next++]();
            }
            var n = await _current.ReadAsync(buffer, cancellationToken);
            if (n > 0) return n;
            await _current.DisposeAsync();
            _current = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _current?.Dispose();
        base.Dispose(disposing);
    }
}
