using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace BackupTools.Engine.Redis;

/// <summary>
/// The walker's input: one 64 KiB buffer that every byte passes through once, on its way into the CRC-64, and the
/// RDB length and string encodings read from it.
/// </summary>
public sealed partial class RdbInspector
{
    private const int BufferSize = 1 << 16;
    /// <summary>Redis never grows a listpack past 1 GiB (LISTPACK_MAX_SAFETY_SIZE), so a larger length is damage, not data to allocate.</summary>
    private const ulong MaxListpack = 1 << 30;
    private readonly Stream _source;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly Crc64 _crc = new();
    private int _position;
    private int _length;
    private long _consumed;

    private (ulong Value, bool Encoded) ReadLengthOrEncoding()
    {
        var b = ReadByte();
        return (b >> 6) switch
        {
            0 => ((ulong)(b & 0x3F), false),
            1 => ((ulong)(((b & 0x3F) << 8) | ReadByte()), false),
            2 when b == 0x80 => (ReadUInt32BigEndian(), false),
            2 when b == 0x81 => (ReadUInt64BigEndian(), false),
            3 => ((ulong)(b & 0x3F), true),
            _ => throw new RdbFormatException($"The dump holds an invalid length byte 0x{b:x2} at byte {_consumed - 1}."),
        };
    }

    private ulong ReadLength()
    {
        var (value, encoded) = ReadLengthOrEncoding();
        if (encoded) throw new RdbFormatException($"The dump holds an encoded value where a length belongs, at byte {_consumed - 1}.");
        return value;
    }

    private void SkipString()
    {
        var (value, encoded) = ReadLengthOrEncoding();
        if (!encoded) { Skip(value); return; }
        switch (value)
        {
            case 0: Skip(1); break;
            case 1: Skip(2); break;
            case 2: Skip(4); break;
            case 3: var compressed = ReadLength(); ReadLength(); Skip(compressed); break; // LZF
            default: throw new RdbFormatException($"The dump holds an unknown string encoding {value} at byte {_consumed - 1}.");
        }
    }

    /// <summary>Small strings (AUX fields); an LZF-compressed one is skipped and read as null.</summary>
    private string? ReadString()
    {
        var (value, encoded) = ReadLengthOrEncoding();
        if (encoded)
        {
            switch (value)
            {
                case 0: return ((sbyte)ReadByte()).ToString(CultureInfo.InvariantCulture);
                case 1: Span<byte> s = stackalloc byte[2]; ReadExactly(s); return BinaryPrimitives.ReadInt16LittleEndian(s).ToString(CultureInfo.InvariantCulture);
                case 2: Span<byte> i = stackalloc byte[4]; ReadExactly(i); return BinaryPrimitives.ReadInt32LittleEndian(i).ToString(CultureInfo.InvariantCulture);
                case 3: var compressed = ReadLength(); ReadLength(); Skip(compressed); return null;
                default: throw new RdbFormatException($"The dump holds an unknown string encoding {value}.");
            }
        }
        if (value > 1 << 20) { Skip(value); return null; }
        var bytes = new byte[value];
        ReadExactly(bytes);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>A binary string (a listpack), decompressed when it was stored with LZF.</summary>
    private byte[] ReadBlob()
    {
        var (value, encoded) = ReadLengthOrEncoding();
        if (!encoded) return ReadBytes(value);
        if (value != 3) throw new RdbFormatException($"The dump holds a number where a listpack belongs, at byte {_consumed - 1}.");
        var compressedLength = ReadLength(); // LZF: compressed length, plain length, then the compressed bytes
        var length = ReadLength();
        var compressed = ReadBytes(compressedLength);
        if (length > MaxListpack) throw new RdbFormatException($"The dump holds a compressed string of {length} bytes where a listpack belongs, at byte {_consumed}: more than a listpack can be.");
        var plain = new byte[length];
        Lzf.Decompress(compressed, plain);
        return plain;
    }

    private byte[] ReadBytes(ulong length)
    {
        if (length > MaxListpack) throw new RdbFormatException($"The dump holds a string of {length} bytes where a listpack belongs, at byte {_consumed}: more than a listpack can be.");
        var bytes = new byte[length];
        ReadExactly(bytes);
        return bytes;
    }

    private uint ReadUInt32() { Span<byte> b = stackalloc byte[4]; ReadExactly(b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }
    private ulong ReadUInt64() { Span<byte> b = stackalloc byte[8]; ReadExactly(b); return BinaryPrimitives.ReadUInt64LittleEndian(b); }
    private ulong ReadUInt32BigEndian() { Span<byte> b = stackalloc byte[4]; ReadExactly(b); return BinaryPrimitives.ReadUInt32BigEndian(b); }
    private ulong ReadUInt64BigEndian() { Span<byte> b = stackalloc byte[8]; ReadExactly(b); return BinaryPrimitives.ReadUInt64BigEndian(b); }

    private bool Fill()
    {
        if (_position < _length) return true;
        _crc.Append(_buffer.AsSpan(0, _length)); // a consumed buffer goes into the checksum as a whole
        _position = _length = 0;
        _length = _source.Read(_buffer, 0, BufferSize);
        return _length > 0;
    }

    private byte ReadByte()
    {
        if (!Fill()) throw Truncated();
        _consumed++;
        return _buffer[_position++];
    }

    private int ReadByteOrEnd()
    {
        if (_position >= _length && (_length = _source.Read(_buffer, _position = 0, BufferSize)) == 0) return -1;
        return _buffer[_position++];
    }

    private void ReadExactly(Span<byte> target)
    {
        while (target.Length > 0)
        {
            if (!Fill()) throw Truncated();
            var n = Math.Min(target.Length, _length - _position);
            _buffer.AsSpan(_position, n).CopyTo(target);
            _position += n;
            _consumed += n;
            target = target[n..];
        }
    }

    private void Skip(ulong count)
    {
        while (count > 0)
        {
            if (!Fill()) throw Truncated();
            var n = (int)Math.Min(count, (ulong)(_length - _position));
            _position += n;
            _consumed += n;
            count -= (ulong)n;
        }
    }

    /// <summary>The 8 checksum bytes: read without adding them (or what follows) to the checksum.</summary>
    private void ReadExactlyRaw(Span<byte> target)
    {
        // Everything consumed so far in the current buffer belongs to the checksum; close it off there.
        _crc.Append(_buffer.AsSpan(0, _position));
        _buffer.AsSpan(_position, _length - _position).CopyTo(_buffer);
        _length -= _position;
        _position = 0;
        while (target.Length > 0)
        {
            if (_position >= _length && (_length = _source.Read(_buffer, _position = 0, BufferSize)) == 0) throw Truncated();
            var n = Math.Min(target.Length, _length - _position);
            _buffer.AsSpan(_position, n).CopyTo(target);
            _position += n;
            _consumed += n;
            target = target[n..];
        }
    }

    private RdbFormatException Truncated() => new($"The dump ends after {_consumed} bytes, before its end marker: it is cut short.");
}
