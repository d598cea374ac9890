using System.Buffers.Binary;
using BackupTools.Model;

namespace BackupTools.Engine.Redis;

/// <summary>
/// Walks an RDB file from start to end without loading it: checks the header, skips every value by its encoding,
/// counts keys, keys with a TTL and hash fields with a TTL per database exactly as they were at the fork, and checks
/// the CRC-64 trailer. A dump that is cut short, has a flipped byte or an impossible structure fails here, at backup
/// time, instead of at restore time. Walked: Redis RDB 1-12 (up to Redis 7.4/8.x, hash-field expiry included) and
/// Valkey RDB 80 (Valkey 9).
/// <para>
/// Newer is not damaged: a dump of an RDB version, value type or opcode the walker does not know (a server newer than
/// this code) is read to its end instead, and kept when its whole-file CRC-64 matches (<see cref="CheckDepth.Checksum"/>);
/// refusing it would leave a current server with no backup at all.
/// </para>
/// </summary>
public sealed partial class RdbInspector
{
    private readonly Dictionary<int, (long Keys, long Expires, long Earliest, long FieldExpires)> _databases = [];
    private RdbHeader _header = new(RdbDialect.Redis, 0);
    private string? _writtenBy;

    private RdbInspector(Stream source) => _source = source;

    public static RdbSummary Inspect(Stream source) => new RdbInspector(source).Walk();

    /// <summary>Something this walker does not know, found in a dump that may well be intact: read on by checksum.</summary>
    private sealed class NewerThanWalkerException(string reason) : Exception(reason);

    private RdbSummary Walk()
    {
        Span<byte> header = stackalloc byte[RdbHeader.Length];
        ReadExactly(header);
        _header = RdbHeader.Parse(header);
        if (!_header.Known)
            return FinishByChecksum($"The dump is {_header}, newer than this version of BackupTools walks (Redis RDB up to {RdbHeader.NewestRedis}, Valkey RDB {RdbHeader.NewestValkey})");
        try
        {
            return WalkRecords();
        }
        catch (NewerThanWalkerException e)
        {
            return FinishByChecksum(e.Message);
        }
    }

    private RdbSummary WalkRecords()
    {
        var db = 0;
        long? expiry = null;
        while (true)
        {
            var type = ReadByte();
            switch (type)
            {
                case RdbCodes.Eof:
                    return Finish();
                case RdbCodes.SelectDb: db = checked((int)ReadLength()); break;
                case RdbCodes.ExpireTime: expiry = ReadUInt32() * 1000L; break;
                case RdbCodes.ExpireTimeMs: expiry = (long)ReadUInt64(); break;
                case RdbCodes.ResizeDb: ReadLength(); ReadLength(); break;
                case RdbCodes.Aux:
                    var key = ReadString();
                    var value = ReadString();
                    // Valkey 8+ writes valkey-ver where Redis writes redis-ver; whichever it is names the writer.
                    if (key == "valkey-ver" || (key == "redis-ver" && _writtenBy is null)) _writtenBy = $"{(key == "valkey-ver" ? "Valkey" : "Redis")} {value}";
                    break;
                case RdbCodes.Freq: Skip(1); break;
                case RdbCodes.Idle: ReadLength(); break;
                case RdbCodes.ModuleAux: ReadLength(); ReadLength(); ReadLength(); SkipModuleOpcodes(); break;
                case RdbCodes.Function2: SkipString(); break;
                case RdbCodes.SlotInfo: ReadLength(); ReadLength(); ReadLength(); break; // slot, keys, expires
                case RdbCodes.SlotImport when _header.Dialect == RdbDialect.Valkey:
                    SkipString(); // the migration job's name, then its slot ranges
                    for (var ranges = ReadLength(); ranges > 0; ranges--) { ReadLength(); ReadLength(); }
                    break;
                default:
                    if (!KnowsValueType(type))
                        throw new NewerThanWalkerException($"The dump holds {(type >= RdbCodes.SlotImport ? "opcode" : "value type")} {type} at byte {_consumed - 1}, " +
                            $"which this version of BackupTools does not know in {_header}");
                    SkipString(); // the key
                    var fieldExpires = SkipValue(type);
                    var counts = _databases.GetValueOrDefault(db, (0, 0, long.MaxValue, 0));
                    counts.Keys++;
                    counts.FieldExpires += fieldExpires;
                    if (expiry is { } at)
                    {
                        counts.Expires++;
                        counts.Earliest = Math.Min(counts.Earliest, at);
                    }
                    _databases[db] = counts;
                    expiry = null;
                    break;
            }
        }
    }

    /// <summary>After the end marker: the checksum over everything before it, and nothing after it.</summary>
    private RdbSummary Finish()
    {
        var trailer = new byte[8];
        var version = _header.Version;
        if (version >= 5) ReadExactlyRaw(trailer);
        var computed = _crc.Value;
        var stored = BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        if (version >= 5 && stored != 0 && stored != computed)
            throw new RdbFormatException($"The dump's CRC-64 does not match its content (stored {stored:x16}, computed {computed:x16}): it is damaged.");
        if (ReadByteOrEnd() >= 0) throw new RdbFormatException("The dump has bytes after its end marker.");
        var databases = _databases.OrderBy(d => d.Key).Select(d => new RdbDatabase(d.Key, d.Value.Keys, d.Value.Expires,
            d.Value.Earliest == long.MaxValue ? null : DateTime.UnixEpoch.AddMilliseconds(d.Value.Earliest), d.Value.FieldExpires)).ToList();
        return new RdbSummary(_header, _writtenBy, databases, version >= 5 && stored != 0, _consumed);
    }

    /// <summary>
    /// The rest of the dump, unwalked: whatever the server wrote after the unknown part, a whole dump ends with the end
    /// marker and (from RDB 5 on) the CRC-64 of everything before the checksum itself. A cut or damaged dump fails that.
    /// </summary>
    private RdbSummary FinishByChecksum(string reason)
    {
        // Fill adds a buffer to the checksum only once it is used up, so the current one goes in from its start.
        var total = _consumed - _position + _length;
        var trailerLength = _header.Version >= 5 ? 8 : 0;
        var tail = new TrailerHoldback(_crc, trailerLength);
        tail.Append(_buffer.AsSpan(0, _length));
        int n;
        while ((n = _source.Read(_buffer, 0, BufferSize)) > 0)
        {
            tail.Append(_buffer.AsSpan(0, n));
            total += n;
        }
        if (total < RdbHeader.Length + 1 + trailerLength || !tail.Full)
            throw new RdbFormatException($"The dump ends after {total} bytes, before its end marker: it is cut short.");
        var stored = BinaryPrimitives.ReadUInt64LittleEndian(tail.Trailer);
        if (stored != 0 && stored != _crc.Value)
            throw new RdbFormatException($"The dump's CRC-64 does not match its content (stored {stored:x16}, computed {_crc.Value:x16}): it is damaged or cut short.");
        if (tail.LastChecked != RdbCodes.Eof)
            throw new RdbFormatException("The dump does not end with the RDB end marker before its checksum: it is cut short or damaged.");
        var depth = stored != 0 ? CheckDepth.Checksum : CheckDepth.Header;
        var why = reason + (depth == CheckDepth.Checksum
            ? ". Its keys were not counted; the CRC-64 over the whole dump matches, so it is kept as the server wrote it."
            : ". Its keys were not counted, and it carries no CRC-64 (rdbchecksum no): only its header and end marker were checked.");
        return new RdbSummary(_header, _writtenBy, [], stored != 0, total, depth, why);
    }

    /// <summary>Passes bytes on to the checksum but the last <c>length</c>, which are the trailer.</summary>
    private sealed class TrailerHoldback(Crc64 crc, int length)
    {
        private readonly byte[] _held = new byte[Math.Max(length, 1)];
        private int _count;

        public bool Full => _count == length;
        public ReadOnlySpan<byte> Trailer => length == 0 ? new byte[8] : _held.AsSpan(0, length);
        /// <summary>The last byte that went into the checksum: a whole dump's is the end marker.</summary>
        public int LastChecked { get; private set; } = -1;

        public void Append(ReadOnlySpan<byte> chunk)
        {
            if (chunk.Length >= length)
            {
                Check(_held.AsSpan(0, _count));
                Check(chunk[..^length]);
                chunk[^length..].CopyTo(_held);
                _count = length;
                return;
            }
            // Shorter than the trailer: the oldest held bytes make room for it.
            var spill = Math.Max(0, _count + chunk.Length - length);
            Check(_held.AsSpan(0, spill));
            _held.AsSpan(spill, _count - spill).CopyTo(_held);
            _count -= spill;
            chunk.CopyTo(_held.AsSpan(_count));
            _count += chunk.Length;
        }

        private void Check(ReadOnlySpan<byte> data)
        {
            if (data.Length == 0) return;
            crc.Append(data);
            LastChecked = data[^1];
        }
    }
}
