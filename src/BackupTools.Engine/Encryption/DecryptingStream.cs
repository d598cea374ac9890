using System.Security.Cryptography;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Encryption;

/// <summary>
/// Reads the BTENC1 format: each chunk is authenticated before a byte of it is returned, so what the caller reads has
/// been proven; a damaged, reordered, cut or foreign file fails with <see cref="EncryptedDataException"/>, a wrong key
/// with <see cref="EncryptionKeyException"/> naming both key ids.
/// </summary>
public sealed class DecryptingStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly EncryptedFormat.Header _header;
    private readonly AesGcm _gcm;
    private readonly byte[] _sealed;   // one sealed chunk plus one byte of look-ahead (is there more after it?)
    private readonly byte[] _plain;
    private int _sealedFilled, _plainStart, _plainEnd;
    private long _index;
    private bool _done;

    public DecryptingStream(Stream inner, EncryptionKey key, bool leaveOpen = false) : this(inner, _ => key, leaveOpen) { }

    /// <summary>Decrypts with the key the file's header names, as <paramref name="keyFor"/> finds it (a keyring).</summary>
    public static DecryptingStream WithKeyFrom(Stream inner, Func<string, EncryptionKey> keyFor) => new(inner, keyFor, leaveOpen: false);

    private DecryptingStream(Stream inner, Func<string, EncryptionKey> keyFor, bool leaveOpen)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        var head = new byte[EncryptedFormat.HeaderLength];
        if (ReadFully(head) < head.Length) throw new EncryptedDataException("This is not a BackupTools encrypted file: it is shorter than the BTENC1 header.");
        _header = EncryptedFormat.Header.Parse(head);
        var dataKey = EncryptedFormat.Unwrap(_header, keyFor(_header.KeyId));
        try { _gcm = new AesGcm(dataKey, EncryptedFormat.TagLength); }
        finally { CryptographicOperations.ZeroMemory(dataKey); }
        _sealed = new byte[_header.ChunkSize + EncryptedFormat.TagLength + 1];
        _plain = new byte[_header.ChunkSize];
    }

    /// <summary>The id of the key a file needs, read from its header alone.</summary>
    public static string KeyIdOf(Stream stream)
    {
        var head = new byte[EncryptedFormat.HeaderLength];
        var got = 0;
        while (got < head.Length && stream.Read(head, got, head.Length - got) is var n && n > 0) got += n;
        return EncryptedFormat.Header.Parse(head.AsSpan(0, got)).KeyId;
    }

    public override int Read(Span<byte> destination)
    {
        if (_plainStart == _plainEnd && !Next()) return 0;
        var n = Math.Min(destination.Length, _plainEnd - _plainStart);
        _plain.AsSpan(_plainStart, n).CopyTo(destination);
        _plainStart += n;
        return n;
    }


    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken ct = default) => ValueTask.FromResult(Read(destination.Span));


    /// <summary>Authenticates and decrypts the next chunk; false after the last one.</summary>
    private bool Next()
    {
        if (_done) return false;
        var full = _header.ChunkSize + EncryptedFormat.TagLength;
        // Fill to one whole chunk plus one byte: fewer than that means this chunk is the last.
        _sealedFilled += ReadFully(_sealed.AsSpan(_sealedFilled, full + 1 - _sealedFilled));
        var last = _sealedFilled <= full;
        var length = Math.Min(_sealedFilled, full);
        if (length < EncryptedFormat.TagLength)
            throw new EncryptedDataException($"The encrypted file is cut short at chunk {_index}: it ends before the chunk's tag.");
        var cipher = length - EncryptedFormat.TagLength;
        try
        {
            _gcm.Decrypt(EncryptedFormat.ChunkNonce(_header, _index), _sealed.AsSpan(0, cipher), _sealed.AsSpan(cipher, EncryptedFormat.TagLength),
                _plain.AsSpan(0, cipher), EncryptedFormat.ChunkAad(_header, _index, last));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new EncryptedDataException(
                $"Chunk {_index} of the encrypted file fails authentication: the file is damaged, cut, reordered or tampered with (key {_header.KeyId}). Nothing of that chunk was used.");
        }
        if (!last)
        {
            _sealed[0] = _sealed[full]; // the look-ahead byte starts the next chunk
            _sealedFilled = 1;
        }
        else _done = true;
        _index++;
        _plainStart = 0;
        _plainEnd = cipher;
        return cipher > 0 || !_done ? true : false;
    }

    private int ReadFully(Span<byte> buffer)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var n = _inner.Read(buffer[got..]);
            if (n == 0) break;
            got += n;
        }
        return got;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gcm.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
