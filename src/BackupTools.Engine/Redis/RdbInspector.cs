using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace BackupTools.Engine.Redis;

/// <summary>Keys in one database of a dump: how many, how many carry a TTL, and the earliest expiry.</summary>
public sealed record RdbDatabase(int Index, long Keys, long Expires, DateTime? EarliestExpiry);

/// <summary>What a walk of a whole RDB file proved about it.</summary>
public sealed record RdbSummary(int Version, string? RedisVersion, IReadOnlyList<RdbDatabase> Databases, bool ChecksumPresent, long Bytes)
{
    public long TotalKeys => Databases.Sum(d => d.Keys);
}

public sealed class RdbFormatException(string message) : IOException(message);

/// <summary>
/// Walks an RDB file from start to end without loading it: checks the "REDISnnnn" header, skips every value by its
/// encoding, counts keys and TTLs per database exactly as they were at the fork, and checks the CRC-64 trailer. A
/// dump that is cut short, has a flipped byte or an unknown encoding fails here, at backup time, instead of at
/// restore time. Formats up to RDB 11 (Redis 7.2) are understood; module values of the old v1 format are not.
/// </summary>
public sealed class RdbInspector
{
    private const int BufferSize = 1 << 16;
    private readonly Stream _source;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly Crc64 _crc = new();
    private int _position;
    private int _length;
    private long _consumed;

    private RdbInspector(Stream source) => _source = source;

    public static RdbSummary Inspect(Stream source) => new RdbInspector(source).Walk();

    private RdbSummary Walk()
    {
        Span<byte> header = stackalloc byte[9];
        ReadExactly(header);
        if (!header[..5].SequenceEqual("REDIS"u8) || !int.TryParse(Encoding.ASCII.GetString(header[5..]), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            throw new RdbFormatException("The dump does not start with an RDB header ('REDIS' and a 4-digit version).");
        if (version is < 1 or > 12)
            throw new RdbFormatException($"The dump is RDB version {version}, which this version of BackupTools cannot check.");

        var databases = new SortedDictionary<int, (long Keys, long Expires, long Earliest)>();
        var db = 0;
        long? expiry = null;
        string? redisVersion = null;
        while (true)
        {
            var type = ReadByte();
            switch (type)
            {
                case 0xFF: // EOF, then the checksum over everything before it
                    var trailer = new byte[8];
                    if (version >= 5) ReadExactlyRaw(trailer);
                    var computed = _crc.Value;
                    var stored = BinaryPrimitives.ReadUInt64LittleEndian(trailer);
                    if (version >= 5 && stored != 0 && stored != computed)
                        throw new RdbFormatException($"The dump's CRC-64 does not match its content (stored {stored:x16}, computed {computed:x16}): it is damaged.");
                    if (ReadByteOrEnd() >= 0) throw new RdbFormatException("The dump has bytes after its end marker.");
                    return new RdbSummary(version, redisVersion,
                        databases.Select(d => new RdbDatabase(d.Key, d.Value.Keys, d.Value.Expires,
                            d.Value.Earliest == long.MaxValue ? null : DateTime.UnixEpoch.AddMilliseconds(d.Value.Earliest))).ToList(),
                        version >= 5 && stored != 0, _consumed);
                case 0xFE: db = checked((int)ReadLength()); break;
                case 0xFD: expiry = ReadUInt32() * 1000L; break;
                case 0xFC: expiry = (long)ReadUInt64(); break;
                case 0xFB: ReadLength(); ReadLength(); break;
                case 0xFA:
                    var key = ReadString();
                    var value = ReadString();
                    if (key == "redis-ver") redisVersion = value;
                    break;
                case 0xF9: Skip(1); break;
                case 0xF8: ReadLength(); break;
                case 0xF7: ReadLength(); ReadLength(); ReadLength(); SkipModuleOpcodes(); break;
                case 0xF5: SkipString(); break;
                case 0xF4: ReadLength(); ReadLength(); ReadLength(); break; // slot info (7.4)
                default:
                    SkipString(); // the key
                    SkipValue(type);
                    var counts = databases.GetValueOrDefault(db, (0, 0, long.MaxValue));
                    counts.Keys++;
                    if (expiry is { } at)
                    {
                        counts.Expires++;
                        counts.Earliest = Math.Min(counts.Earliest, at);
                    }
                    databases[db] = counts;
                    expiry = null;
                    break;
            }
        }
    }

    private void SkipValue(byte type)
    {
        switch (type)
        {
            case 0: SkipString(); break;                                      // string
            case 1 or 2: SkipStrings(ReadLength()); break;                     // list, set
            case 3:                                                            // zset with string scores
                for (var n = ReadLength(); n > 0; n--) { SkipString(); var l = ReadByte(); if (l < 253) Skip(l); }
                break;
            case 4: SkipStrings(ReadLength() * 2); break;                      // hash
            case 5: for (var n = ReadLength(); n > 0; n--) { SkipString(); Skip(8); } break; // zset2
            case 7: ReadLength(); SkipModuleOpcodes(); break;                  // module2
            case 9 or 10 or 11 or 12 or 13 or 16 or 17 or 20: SkipString(); break; // one encoded blob
            case 14: SkipStrings(ReadLength()); break;                         // quicklist of ziplists
            case 18: for (var n = ReadLength(); n > 0; n--) { ReadLength(); SkipString(); } break; // quicklist2
            case 15 or 19 or 21: SkipStream(type); break;
            case 6: throw new RdbFormatException("The dump holds a module value in the old v1 format, which cannot be checked without the module.");
            default: throw new RdbFormatException($"The dump holds an unknown value type {type} at byte {_consumed - 1}: it is damaged or newer than this version understands.");
        }
    }

    private void SkipStream(byte type)
    {
        SkipStrings(ReadLength() * 2);                  // listpack nodes: master ID and listpack
        ReadLength(); ReadLength(); ReadLength();       // length, last ID
        if (type >= 19) { ReadLength(); ReadLength(); ReadLength(); ReadLength(); ReadLength(); } // first ID, max deleted ID, entries added
        for (var groups = ReadLength(); groups > 0; groups--)
        {
            SkipString();
            ReadLength(); ReadLength();                 // last delivered ID
            if (type >= 19) ReadLength();               // entries read
            for (var pel = ReadLength(); pel > 0; pel--) { Skip(16 + 8UL); ReadLength(); }
            for (var consumers = ReadLength(); consumers > 0; consumers--)
            {
                SkipString();
                Skip(type >= 21 ? 16UL : 8UL);              // seen time (and active time)
                Skip(ReadLength() * 16);
            }
        }
    }

    private void SkipModuleOpcodes()
    {
        while (true)
        {
            switch (ReadLength())
            {
                case 0: return;
                case 1 or 2: ReadLength(); break;
                case 3: Skip(4); break;
                case 4: Skip(8); break;
                case 5: SkipString(); break;
                case var other: throw new RdbFormatException($"The dump holds an unknown module opcode {other}.");
            }
        }
    }

    private void SkipStrings(ulong count)
    {
        for (; count > 0; count--) SkipString();
    }

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
