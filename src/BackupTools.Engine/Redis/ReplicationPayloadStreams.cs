using System.IO.Pipelines;
using System.Text;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Redis;

/// <summary>
/// The RDB payload of a disk-less SYNC: it ends with the 40-byte mark announced in <c>$EOF:&lt;mark&gt;</c>, and the
/// connection may stay open after it. The last 40 bytes read are always held back, so the mark never reaches the
/// backup, and the stream ends when what is held back is the mark.
/// </summary>
public sealed class EofMarkedStream(Stream inner, string mark) : ReadOnlyStream
{
    private readonly byte[] _mark = Encoding.ASCII.GetBytes(mark);
    private readonly byte[] _buffer = new byte[1 << 20]; // larger than the connection's buffer, so reads bypass it
    private int _held; // bytes in _buffer; the last 40 are held back until more arrives, as they may be the start of the mark
    private int _markAt = -1;

    public override int Read(Span<byte> buffer)
    {
        var copy = new byte[buffer.Length];
        var n = ReadAsync(copy).AsTask().GetAwaiter().GetResult();
        copy.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            // Once the mark is seen, the payload is what comes before it.
            var payloadEnd = _markAt >= 0 ? _markAt : _held - _mark.Length;
            if (payloadEnd > 0)
            {
                var give = Math.Min(payloadEnd, buffer.Length);
                Release(buffer.Span, give);
                if (_markAt >= 0) _markAt -= give;
                return give;
            }
            if (_markAt >= 0) return 0;
            var n = await inner.ReadAsync(_buffer.AsMemory(_held), cancellationToken);
            if (n == 0) throw new EndOfStreamException("Redis closed the connection before the end of the dump (no EOF mark).");
            // Search what arrived (and the 39 bytes before it, for a mark split across reads): redis-cli only compares
            // the tail of each read, which misses a mark that shares a read with anything after it. Measured: 3 ms
            // for a 38 MB dump.
            var searchFrom = Math.Max(0, _held - _mark.Length + 1);
            _held += n;
            var found = _buffer.AsSpan(searchFrom, _held - searchFrom).IndexOf(_mark);
            if (found >= 0) _markAt = searchFrom + found;
        }
    }

    private void Release(Span<byte> target, int count)
    {
        _buffer.AsSpan(0, count).CopyTo(target);
        _buffer.AsSpan(count, _held - count).CopyTo(_buffer);
        _held -= count;
    }
}

/// <summary>The RDB payload of a disk-based SYNC: exactly the length announced in <c>$&lt;length&gt;</c>.</summary>
public sealed class LengthLimitedStream(Stream inner, long length) : ReadOnlyStream
{
    private long _left = length;

    public override int Read(Span<byte> buffer)
    {
        if (_left == 0) return 0;
        var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
        if (n == 0) throw new EndOfStreamException($"Redis closed the connection {_left} bytes before the end of the dump.");
        _left -= n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_left == 0) return 0;
        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken);
        if (n == 0) throw new EndOfStreamException($"Redis closed the connection {_left} bytes before the end of the dump.");
        _left -= n;
        return n;
    }
}

/// <summary>
/// Passes a stream through while a copy of every byte goes to a pipe, so the dump is checked (<see cref="RdbInspector"/>)
/// on another core in the same pass that compresses, hashes and stores it.
/// </summary>
public sealed class TeeReadStream(Stream inner, PipeWriter copy) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Forward(buffer[..n].ToArray()).AsTask().GetAwaiter().GetResult();
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        await Forward(buffer[..n], cancellationToken);
        return n;
    }

    private async ValueTask Forward(ReadOnlyMemory<byte> chunk, CancellationToken ct = default)
    {
        if (chunk.Length == 0) return;
        var result = await copy.WriteAsync(chunk, ct);
        if (result.IsCompleted) throw new InspectionStoppedException();
    }
}

/// <summary>The checking side stopped early (it found the dump damaged); its own error says why.</summary>
public sealed class InspectionStoppedException() : IOException("The dump check stopped before the end of the dump.");
