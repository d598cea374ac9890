using System.Security.Cryptography;

namespace BackupTools.Engine.Encryption;

/// <summary>
/// Writes the BTENC1 format to an inner stream: bytes are gathered into chunks and each is sealed as it fills. The
/// last chunk is only known at the end, so a full chunk waits until more bytes arrive; disposing (or
/// <see cref="FlushFinalBlock"/>) seals the last one, even an empty one.
/// </summary>
public sealed class EncryptingStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly EncryptedFormat.Header _header;
    private readonly AesGcm _gcm;
    private readonly byte[] _buffer;
    private readonly byte[] _sealed;
    private int _filled;
    private long _index;
    private bool _finished;

    public EncryptingStream(Stream inner, EncryptionKey key, int chunkSize = EncryptedFormat.DefaultChunkSize, bool leaveOpen = false)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        var dataKey = RandomNumberGenerator.GetBytes(EncryptedFormat.DataKeyLength);
        try
        {
            _header = EncryptedFormat.NewHeader(key, dataKey, chunkSize);
            _gcm = new AesGcm(dataKey, EncryptedFormat.TagLength);
        }
        finally { CryptographicOperations.ZeroMemory(dataKey); }
        _buffer = new byte[chunkSize];
        _sealed = new byte[chunkSize + EncryptedFormat.TagLength];
        _inner.Write(_header.ToBytes());
    }

    public string KeyId => _header.KeyId;

    public override void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (data.Length > 0)
        {
            if (_filled == _buffer.Length) Seal(last: false); // more is coming, so this full chunk is not the last
            var n = Math.Min(data.Length, _buffer.Length - _filled);
            data[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            data = data[n..];
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (data.Length > 0)
        {
            ct.ThrowIfCancellationRequested();
            if (_filled == _buffer.Length) await SealAsync(last: false, ct);
            var n = Math.Min(data.Length, _buffer.Length - _filled);
            data[..n].CopyTo(_buffer.AsMemory(_filled));
            _filled += n;
            data = data[n..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Seals the last chunk; nothing can be written after.</summary>
    public void FlushFinalBlock()
    {
        if (_finished) return;
        Seal(last: true);
        _finished = true;
        _inner.Flush();
    }

    private int Encrypt(bool last)
    {
        var cipher = _sealed.AsSpan(0, _filled);
        var tag = _sealed.AsSpan(_filled, EncryptedFormat.TagLength);
        _gcm.Encrypt(EncryptedFormat.ChunkNonce(_header, _index), _buffer.AsSpan(0, _filled), cipher, tag, EncryptedFormat.ChunkAad(_header, _index, last));
        var length = _filled + EncryptedFormat.TagLength;
        _index++;
        _filled = 0;
        return length;
    }

    private void Seal(bool last) => _inner.Write(_sealed, 0, Encrypt(last));

    private async Task SealAsync(bool last, CancellationToken ct)
    {
        var length = Encrypt(last);
        await _inner.WriteAsync(_sealed.AsMemory(0, length), ct);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            FlushFinalBlock();
            _gcm.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_finished)
        {
            await SealAsync(last: true, CancellationToken.None);
            _finished = true;
            await _inner.FlushAsync();
        }
        _gcm.Dispose();
        if (!_leaveOpen) await _inner.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => _inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
