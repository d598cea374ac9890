using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace BackupTools.Engine.Encryption;

/// <summary>
/// The encrypted file format, "BTENC1": AES-256-GCM in chunks, authenticated end to end.
/// <code>
/// header  = "BTENC1\n" | keyId (16 ASCII hex) | chunkSize (u32 BE) | noncePrefix (4) | wrapNonce (12) | wrappedKey (32) | wrapTag (16)
/// chunk i = ciphertext (chunkSize bytes, or fewer for the last) | tag (16)
/// </code>
/// Each file has its own random data key, wrapped (AES-GCM) by the key-encryption key with the header before it as
/// associated data. Chunk i's nonce is noncePrefix | i (u64 BE), and its associated data is the chunk size, the nonce
/// prefix, i, and whether it is the last chunk: a flipped byte, a swapped or dropped chunk, a cut file or a header from
/// another file (another data key) all fail authentication, and rotation (a new wrap of the same data key) keeps every
/// chunk valid. A file of no bytes still has one (empty, last) chunk, so a cut at a chunk boundary
/// is caught too.
/// </summary>
public static class EncryptedFormat
{
    public static readonly byte[] Magic = Encoding.ASCII.GetBytes("BTENC1\n");
    public const int KeyIdLength = 16, NoncePrefixLength = 4, NonceLength = 12, TagLength = 16, DataKeyLength = 32;
    public const int DefaultChunkSize = 1 << 20;
    public static int HeaderLength => Magic.Length + KeyIdLength + 4 + NoncePrefixLength + NonceLength + DataKeyLength + TagLength;

    internal sealed record Header(string KeyId, int ChunkSize, byte[] NoncePrefix, byte[] WrapNonce, byte[] WrappedKey, byte[] WrapTag)
    {
        /// <summary>The bytes before the wrapped key: what the wrap authenticates.</summary>
        public byte[] Prefix()
        {
            var b = new byte[Magic.Length + KeyIdLength + 4 + NoncePrefixLength];
            Magic.CopyTo(b, 0);
            Encoding.ASCII.GetBytes(KeyId).CopyTo(b, Magic.Length);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(Magic.Length + KeyIdLength), (uint)ChunkSize);
            NoncePrefix.CopyTo(b, Magic.Length + KeyIdLength + 4);
            return b;
        }

        public byte[] ToBytes() => [.. Prefix(), .. WrapNonce, .. WrappedKey, .. WrapTag];

        public static Header Parse(ReadOnlySpan<byte> b)
        {
            if (b.Length < HeaderLength || !b[..Magic.Length].SequenceEqual(Magic))
                throw new EncryptedDataException("This is not a BackupTools encrypted file (no BTENC1 header), or its header is cut.");
            var at = Magic.Length;
            var keyId = Encoding.ASCII.GetString(b.Slice(at, KeyIdLength)); at += KeyIdLength;
            var chunk = (int)BinaryPrimitives.ReadUInt32BigEndian(b[at..]); at += 4;
            if (chunk is < 1 or > 64 << 20) throw new EncryptedDataException($"The encrypted file's chunk size {chunk} is impossible: its header is damaged.");
            var prefix = b.Slice(at, NoncePrefixLength).ToArray(); at += NoncePrefixLength;
            var wrapNonce = b.Slice(at, NonceLength).ToArray(); at += NonceLength;
            var wrapped = b.Slice(at, DataKeyLength).ToArray(); at += DataKeyLength;
            var tag = b.Slice(at, TagLength).ToArray();
            return new Header(keyId, chunk, prefix, wrapNonce, wrapped, tag);
        }
    }

    internal static Header NewHeader(EncryptionKey key, byte[] dataKey, int chunkSize)
    {
        var header = new Header(key.Id, chunkSize, RandomNumberGenerator.GetBytes(NoncePrefixLength), RandomNumberGenerator.GetBytes(NonceLength),
            new byte[DataKeyLength], new byte[TagLength]);
        using var gcm = new AesGcm(key.Bytes, TagLength);
        gcm.Encrypt(header.WrapNonce, dataKey, header.WrappedKey, header.WrapTag, header.Prefix());
        return header;
    }

    /// <summary>The file's data key, unwrapped with the key-encryption key; a wrong key is named by both ids.</summary>
    internal static byte[] Unwrap(Header header, EncryptionKey key)
    {
        if (header.KeyId != key.Id)
            throw new EncryptionKeyException($"This file was encrypted with key {header.KeyId}, but the key given is {key.Id}. Give the key file the backups were made with (or its rotated successor after Update-BackupEncryptionKey).");
        var dataKey = new byte[DataKeyLength];
        try
        {
            using var gcm = new AesGcm(key.Bytes, TagLength);
            gcm.Decrypt(header.WrapNonce, header.WrappedKey, header.WrapTag, dataKey, header.Prefix());
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new EncryptedDataException($"The encrypted file's header (key {header.KeyId}) fails authentication: it is damaged or was tampered with.");
        }
        return dataKey;
    }

    /// <summary>Rotation: the same file's header with its data key wrapped by a new key-encryption key; the chunks stay as they are.</summary>
    public static byte[] Rewrap(ReadOnlySpan<byte> headerBytes, EncryptionKey oldKey, EncryptionKey newKey)
    {
        var header = Header.Parse(headerBytes);
        var dataKey = Unwrap(header, oldKey);
        try
        {
            var rewrapped = header with { KeyId = newKey.Id, WrapNonce = RandomNumberGenerator.GetBytes(NonceLength), WrappedKey = new byte[DataKeyLength], WrapTag = new byte[TagLength] };
            using var gcm = new AesGcm(newKey.Bytes, TagLength);
            gcm.Encrypt(rewrapped.WrapNonce, dataKey, rewrapped.WrappedKey, rewrapped.WrapTag, rewrapped.Prefix());
            return rewrapped.ToBytes();
        }
        finally { CryptographicOperations.ZeroMemory(dataKey); }
    }

    /// <summary>
    /// What chunk i authenticates besides its bytes. Not the whole header: rotation rewrites the wrapped key, and the
    /// chunks must stay valid; the parts that identify the stream (chunk size, nonce prefix) are in.
    /// </summary>
    internal static byte[] ChunkAad(Header header, long index, bool last)
    {
        var aad = new byte[4 + NoncePrefixLength + 8 + 1];
        BinaryPrimitives.WriteUInt32BigEndian(aad, (uint)header.ChunkSize);
        header.NoncePrefix.CopyTo(aad, 4);
        BinaryPrimitives.WriteInt64BigEndian(aad.AsSpan(4 + NoncePrefixLength), index);
        aad[^1] = last ? (byte)1 : (byte)0;
        return aad;
    }

    internal static byte[] ChunkNonce(Header header, long index)
    {
        var nonce = new byte[NonceLength];
        header.NoncePrefix.CopyTo(nonce, 0);
        BinaryPrimitives.WriteInt64BigEndian(nonce.AsSpan(NoncePrefixLength), index);
        return nonce;
    }
}
