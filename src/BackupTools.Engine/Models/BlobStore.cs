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
public sealed class BlobStore(string directory)
{
    private const int BufferSize = 1 << 20;

    public string Directory { get; } = directory;

    public string PathOf(string sha256) => Path.Combine(Directory, sha256[..2], sha256);

    public bool Contains(string sha256) => File.Exists(PathOf(sha256));

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
            await using (var target = FileModes.CreatePrivateFile(tempPath))
            {
                var writtenBack = 0L;
                int n;
                while ((n = await source.ReadAsync(buffer.AsMemory(0, BufferSize), ct)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await target.WriteAsync(buffer.AsMemory(0, n), ct);
                    total += n;
                    progress?.Report(n);
                    if (total - writtenBack >= WriteBehind.Interval) writtenBack = WriteBehind.Start(target, writtenBack);
                }
                await target.FlushAsync(ct);
                target.Flush(flushToDisk: true);
            }
            var sha = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
            if (Contains(sha))
            {
                File.Delete(tempPath); // the same content is already stored: nothing new
                return (sha, total, false);
            }
            var readBack = await StreamingWriter.HashFileAsync(tempPath, ct);
            if (readBack != sha)
                throw new BackupVerificationException($"'{sourcePath}' was copied, but the copy reads back with SHA-256 {readBack} instead of {sha}; check the disk.");
            FileModes.CreatePrivateDirectory(Path.GetDirectoryName(PathOf(sha))!);
            try { File.Move(tempPath, PathOf(sha), overwrite: false); }
            catch (IOException) when (Contains(sha))
            {
                File.Delete(tempPath); // another file with the same content got there first
                return (sha, total, false);
            }
            return (sha, total, true);
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

    /// <summary>Whether a stored blob still hashes to its name.</summary>
    public async Task<bool> VerifyAsync(string sha256, CancellationToken ct) =>
        Contains(sha256) && await StreamingWriter.HashFileAsync(PathOf(sha256), ct) == sha256;

    /// <summary>Temporary files left by a crashed copy.</summary>
    public void RemoveLeftovers()
    {
        var temp = Path.Combine(Directory, "tmp");
        if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
    }
}
