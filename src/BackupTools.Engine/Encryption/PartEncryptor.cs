using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace BackupTools.Engine.Encryption;

/// <summary>
/// The BTENC1 form of a file, cut into upload parts that can be made in any order and made again identically: part 0
/// is the header and the first <see cref="ChunksPerPart"/> chunks, part p the next ones. The ciphertext depends only on
/// the header (its wrapped data key and nonce prefix) and the plaintext, so an upload resumed with the saved header
/// sends only the parts that did not arrive, and they fit the ones that did.
/// </summary>
public sealed class PartEncryptor
{
    /// <summary>8 chunks of 1 MiB: parts of about 8 MiB (S3's smallest part but the last is 5 MiB), more for files so large
    /// that 8 would make over 9,000 parts (S3 takes at most 10,000). Derived from the length alone, so a resumed upload
    /// cuts the same parts.</summary>
    public const int MinChunksPerPart = 8, MaxParts = 9_000;
    public int ChunksPerPart { get; }
    private readonly EncryptedFormat.Header _header;
    private readonly byte[] _dataKey;
    private readonly long _plainLength;
    private readonly long _chunks;

    /// <param name="savedHeader">The header of an upload being resumed, or null for a new one (a new data key).</param>
    public PartEncryptor(EncryptionKey key, byte[]? savedHeader, long plainLength, int chunkSize = EncryptedFormat.DefaultChunkSize)
    {
        if (savedHeader is null)
        {
            var dataKey = RandomNumberGenerator.GetBytes(EncryptedFormat.DataKeyLength);
            _header = EncryptedFormat.NewHeader(key, dataKey, chunkSize);
            _dataKey = dataKey;
        }
        else
        {
            _header = EncryptedFormat.Header.Parse(savedHeader);
            _dataKey = EncryptedFormat.Unwrap(_header, key);
        }
        HeaderBytes = _header.ToBytes();
        _plainLength = plainLength;
        _chunks = Math.Max(1, (plainLength + _header.ChunkSize - 1) / _header.ChunkSize);
        ChunksPerPart = (int)Math.Max(MinChunksPerPart, (_chunks + MaxParts - 1) / MaxParts);
        PartCount = (int)((_chunks + ChunksPerPart - 1) / ChunksPerPart);
        CipherLength = HeaderBytes.Length + plainLength + _chunks * EncryptedFormat.TagLength;
    }

    public byte[] HeaderBytes { get; }
    public int PartCount { get; }
    public long CipherLength { get; }

    private long FirstChunk(int part) => (long)part * ChunksPerPart;
    private long EndChunk(int part) => Math.Min(_chunks, FirstChunk(part) + ChunksPerPart);

    public int PartLength(int part)
    {
        var plainStart = FirstChunk(part) * _header.ChunkSize;
        var plainEnd = Math.Min(_plainLength, EndChunk(part) * _header.ChunkSize);
        return (part == 0 ? HeaderBytes.Length : 0) + (int)(plainEnd - plainStart) + (int)(EndChunk(part) - FirstChunk(part)) * EncryptedFormat.TagLength;
    }

    /// <summary>The stored size of a file of this many bytes (header, chunks, tags), without making anything.</summary>
    public static long CipherLengthOf(long plainLength, int chunkSize = EncryptedFormat.DefaultChunkSize) =>
        EncryptedFormat.HeaderLength + plainLength + Math.Max(1, (plainLength + chunkSize - 1) / chunkSize) * EncryptedFormat.TagLength;

    /// <summary>Reads part <paramref name="part"/>'s plaintext from <paramref name="file"/> and returns it sealed.</summary>
    public byte[] Make(SafeFileHandle file, int part)
    {
        var output = new byte[PartLength(part)];
        var at = 0;
        if (part == 0)
        {
            HeaderBytes.CopyTo(output, 0);
            at = HeaderBytes.Length;
        }
        var plain = new byte[_header.ChunkSize];
        using var gcm = new AesGcm(_dataKey, EncryptedFormat.TagLength);
        for (var i = FirstChunk(part); i < EndChunk(part); i++)
        {
            var offset = i * _header.ChunkSize;
            var length = (int)Math.Min(_header.ChunkSize, _plainLength - offset);
            var read = 0;
            while (read < length)
            {
                var n = RandomAccess.Read(file, plain.AsSpan(read, length - read), offset + read);
                if (n == 0) throw new IOException($"The file became shorter while it was being copied (at byte {offset + read} of {_plainLength}); the copy stops.");
                read += n;
            }
            gcm.Encrypt(EncryptedFormat.ChunkNonce(_header, i), plain.AsSpan(0, length), output.AsSpan(at, length),
                output.AsSpan(at + length, EncryptedFormat.TagLength), EncryptedFormat.ChunkAad(_header, i, last: i == _chunks - 1));
            at += length + EncryptedFormat.TagLength;
        }
        return output;
    }
}
