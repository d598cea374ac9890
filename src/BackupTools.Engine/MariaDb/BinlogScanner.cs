using BackupTools.Engine.Repository;
using System.Buffers.Binary;

namespace BackupTools.Engine.MariaDb;

/// <summary>What a binary log file holds, read from its event headers while it is being archived.</summary>
public sealed record BinlogFileFacts
{
    public DateTime? FirstEventTime { get; init; }
    public DateTime? LastEventTime { get; init; }
    public long EndPosition { get; init; }
    public int Events { get; init; }
    public uint? ServerId { get; init; }
    /// <summary>The GTID state the file starts from (its Gtid_list event), e.g. <c>0-1-15</c>.</summary>
    public string? GtidListAtStart { get; init; }
    /// <summary>
    /// The GTID state at the end of the file: its Gtid_list updated with every GTID in it. The next file of the same
    /// history starts with exactly this state; null when the file had no Gtid_list event to start from.
    /// </summary>
    public string? GtidStateAtEnd { get; init; }
    /// <summary>The file named by the closing Rotate event (the server's next file), when the file ends with one.</summary>
    public string? RotatedTo { get; init; }
    /// <summary>The file ends with a Rotate or Stop event: the server closed it, it was not cut off.</summary>
    public bool ClosedCleanly { get; init; }
    /// <summary>With a stop time: the offset of the first event at or after it (where replay stops), else null.</summary>
    public long? StopPosition { get; init; }
    /// <summary>The GTID of the last transaction that ends before the stop point (or in the file).</summary>
    public string? LastCompleteGtid { get; init; }
}

/// <summary>The head of a binary log file: the server that wrote it, when it was created, and the GTID state it starts from.</summary>
public sealed record BinlogHeader(uint? ServerId, DateTime? Created, string? GtidListAtStart);

/// <summary>
/// A read-only pass-through over a binary log file that parses event headers as the bytes go by, so archiving reads
/// each file once. Header (v4): timestamp u32, type u8, server_id u32, event_size u32, next_pos u32, flags u16.
/// With a stop time it also finds where <c>mariadb-binlog --stop-datetime</c> stops (the first event at or after it,
/// from <paramref name="startPosition"/> on) and the last transaction completed before that, for the restore's result.
/// </summary>
public sealed class BinlogScanner(Stream inner, DateTime? stopAt = null, long startPosition = 0) : ObservingReadStream(inner)
{
    private const int HeaderSize = 19;
    private const byte QueryEvent = 2, StopEvent = 3, RotateEvent = 4, FormatDescriptionEvent = 15, XidEvent = 16, XaPrepareEvent = 38, GtidEvent = 162, GtidListEvent = 163;
    private const int QueryBodyRead = 256; // enough for a COMMIT query event's status variables and text; longer ones are statements
    private readonly long? _stopAt = stopAt is { } s ? (long)(s - DateTime.UnixEpoch).TotalSeconds : null;
    private long? _stopPosition;
    private long _eventStart;
    private string? _pendingGtid, _completeGtid;
    private static readonly byte[] Magic = [0xfe, 0x62, 0x69, 0x6e];

    private readonly byte[] _header = new byte[HeaderSize];
    private readonly byte[] _body = new byte[4 + 16 * 1024]; // Gtid_list: count + up to 1024 (domain, server) pairs
    private SortedDictionary<(uint Domain, uint Server), ulong>? _state; // from the Gtid_list on, updated by each committed GTID
    // The transaction whose GTID event was read but whose end was not seen yet. It enters _state when it ends: at its
    // Xid, at the next GTID (events of a transaction are contiguous), after the one event of a standalone (DDL) GTID,
    // or at the Rotate/Stop that closes the file. A transaction cut off by a crash never enters it: the server's
    // recovery leaves it out of the next file's Gtid_list too.
    private (uint Domain, uint Server, ulong Seq, bool Standalone)? _openTransaction;
    private string? _rotatedTo;
    private bool _checksums;
    private long _position;
    private int _headerFill = -Magic.Length; // negative while the magic is being read
    private long _bodyLeft;
    private int _bodyFill, _bodyWanted;
    private byte _type, _lastType;
    private uint _maxTime, _firstTime;
    private uint? _serverId;
    private int _events;
    private string? _gtidList;
    private string? _error;
    private long _completeEnd;
    private uint _completeMaxTime;
    private int _completeEvents;

    /// <summary>
    /// Where the bytes read so far stop being whole: the end of the last event after which no transaction is open (a
    /// file being streamed ends with a torn event or a transaction whose commit has not arrived). A replay of the file
    /// cut here holds every complete transaction in it and nothing of one that is not.
    /// </summary>
    public long CompleteEnd => _completeEnd;

    /// <summary>The newest event time up to <see cref="CompleteEnd"/> (null when no complete event was read).</summary>
    public DateTime? CompleteLastEventTime => _completeEvents == 0 ? null : DateTime.UnixEpoch.AddSeconds(_completeMaxTime);

    public BinlogFileFacts Facts
    {
        get
        {
            if (_error is not null) throw new InvalidDataException(_error);
            if (_headerFill != 0 || _bodyLeft != 0)
                throw new InvalidDataException($"The binary log ends inside an event at byte {_position}: the file is cut off.");
            return new BinlogFileFacts
            {
                FirstEventTime = _events == 0 ? null : DateTime.UnixEpoch.AddSeconds(_firstTime),
                LastEventTime = _events == 0 ? null : DateTime.UnixEpoch.AddSeconds(_maxTime),
                EndPosition = _position, Events = _events, ServerId = _serverId, GtidListAtStart = _gtidList,
                GtidStateAtEnd = _state is null ? null : StateAtEnd(),
                RotatedTo = _lastType == RotateEvent ? _rotatedTo : null,
                ClosedCleanly = _lastType is RotateEvent or StopEvent,
                StopPosition = _stopPosition,
                LastCompleteGtid = _stopPosition is null && _lastType is RotateEvent or StopEvent ? _pendingGtid ?? _completeGtid : _completeGtid,
            };
        }
    }

    protected override void Observe(ReadOnlySpan<byte> chunk) => Scan(chunk);

    /// <summary>Scans bytes read elsewhere (a file read in parts, not through this stream).</summary>
    public void Feed(ReadOnlySpan<byte> chunk) => Scan(chunk);

    /// <summary>Bytes scanned so far.</summary>
    public long Scanned => _position;

    private void CommitOpenTransaction()
    {
        if (_openTransaction is { } t && _state is not null) _state[(t.Domain, t.Server)] = t.Seq;
        _openTransaction = null;
    }

    private string StateAtEnd()
    {
        var state = new SortedDictionary<(uint Domain, uint Server), ulong>(_state!);
        if (_lastType is RotateEvent or StopEvent && _openTransaction is { } t) state[(t.Domain, t.Server)] = t.Seq; // closed by the server: it ended
        return GtidState.FromBuilder(state).ToString();
    }

    /// <summary>
    /// Who wrote a binary log file and the state it starts from, read from its first events only (a few hundred bytes):
    /// the format description (the server id and the second the file was created) and the Gtid_list.
    /// </summary>
    public static async Task<BinlogHeader> ReadHeaderAsync(string path, CancellationToken cancellationToken)
    {
        var scanner = new BinlogScanner(Stream.Null);
        var buffer = new byte[4096];
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous);
        // Gtid_list follows the format description (and a Binlog_checkpoint may come between): a few events suffice.
        while (scanner._gtidList is null && scanner._events < 5 && scanner._error is null)
        {
            var n = await file.ReadAsync(buffer, cancellationToken);
            if (n == 0) break;
            scanner.Scan(buffer.AsSpan(0, n));
        }
        // Damage after the head (the buffer reads past it) is not the head's: only a file whose first events are bad is refused here.
        if (scanner._error is not null && (scanner._events == 0 || scanner._gtidList is null)) throw new InvalidDataException($"'{path}': {scanner._error}");
        return new BinlogHeader(scanner._events == 0 ? null : scanner._serverId, scanner._events == 0 ? null : DateTime.UnixEpoch.AddSeconds(scanner._firstTime),
            scanner._gtidList);
    }

    private void Scan(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0 && _error is null)
        {
            if (_headerFill < 0)
            {
                var at = Magic.Length + _headerFill;
                if (data[0] != Magic[at]) { _error = "The file does not start with the binary log magic bytes (fe 62 69 6e); it is not a binary log."; return; }
                _headerFill++;
                Advance(ref data, 1);
            }
            else if (_bodyLeft > 0)
            {
                var take = (int)Math.Min(_bodyLeft, data.Length);
                if (_bodyFill < _bodyWanted)
                {
                    var copy = Math.Min(take, _bodyWanted - _bodyFill);
                    data[..copy].CopyTo(_body.AsSpan(_bodyFill));
                    _bodyFill += copy;
                }
                _bodyLeft -= take;
                Advance(ref data, take);
                if (_bodyLeft == 0) EndEvent();
            }
            else
            {
                var take = Math.Min(HeaderSize - _headerFill, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFill));
                _headerFill += take;
                Advance(ref data, take);
                if (_headerFill == HeaderSize) BeginEvent();
            }
        }
    }

    private void BeginEvent()
    {
        _headerFill = 0;
        var time = BinaryPrimitives.ReadUInt32LittleEndian(_header);
        _type = _header[4];
        var size = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(9));
        if (size < HeaderSize) { _error = $"Event at byte {_position - HeaderSize} has size {size}, less than its header: the file is damaged."; return; }
        if (_events == 0) { _firstTime = time; _serverId = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(5)); }
        var eventStart = _eventStart = _position - HeaderSize;
        if (_stopAt is { } stop && _stopPosition is null && eventStart >= startPosition && eventStart > 4 && time >= stop
            && _type is not (RotateEvent or FormatDescriptionEvent)) // the format description is always read first
            _stopPosition = eventStart;
        if (_stopPosition is null && eventStart >= startPosition)
        {
            // Events of a transaction are contiguous: a new GTID closes the previous one; an Xid commits it.
            if (_type == GtidEvent) { _completeGtid = _pendingGtid ?? _completeGtid; _pendingGtid = null; }
            else if (_type == XidEvent && _pendingGtid is not null) { _completeGtid = _pendingGtid; _pendingGtid = null; }
        }
        _maxTime = Math.Max(_maxTime, time);
        _events++;
        _bodyLeft = size - HeaderSize;
        _bodyFill = 0;
        _bodyWanted = (_type == GtidListEvent && _gtidList is null) || _type is GtidEvent or RotateEvent or FormatDescriptionEvent
                      || (_type == QueryEvent && _openTransaction is not null && _bodyLeft <= QueryBodyRead)
            ? (int)Math.Min(_bodyLeft, _body.Length) : 0;
        if (_bodyLeft == 0) EndEvent();
    }

    private long _eventsEnd;

    /// <summary>The end of the last whole event read (a file cut inside an event ends after it).</summary>
    public long WholeEventsEnd => _eventsEnd;

    /// <summary>The bytes read are not a binary log, or an event in them is impossible (not merely cut off at the end).</summary>
    public bool Damaged => _error is not null;

    private void EndEvent()
    {
        _eventsEnd = _position;
        EndEventCore();
        if (_openTransaction is not null) return;
        _completeEnd = _position;
        _completeMaxTime = _maxTime;
        _completeEvents = _events;
    }

    /// <summary>
    /// A query event that ends the transaction it is in: COMMIT (a transaction on a non-transactional engine has no
    /// Xid) or ROLLBACK. Body: thread id u32, exec time u32, db length u8, error code u16, status length u16, the
    /// status variables, the database name and a NUL, then the statement (and a CRC32 when checksums are on).
    /// </summary>
    private bool EndsTransactionQuery()
    {
        if (_type != QueryEvent || _bodyFill < 13) return false;
        var statusLength = BinaryPrimitives.ReadUInt16LittleEndian(_body.AsSpan(11));
        var start = 13 + statusLength + _body[8] + 1;
        var end = _bodyFill - (_checksums ? 4 : 0);
        if (start > end) return false;
        var text = System.Text.Encoding.ASCII.GetString(_body, start, end - start);
        return text is "COMMIT" or "ROLLBACK";
    }

    private void EndEventCore()
    {
        var wasOpen = _openTransaction;
        if (EndsTransactionQuery() || _type == XaPrepareEvent || (_type != GtidEvent && _type != XidEvent && wasOpen is { Standalone: true }))
        {
            // A transaction ended by a COMMIT query (non-transactional tables), its one DDL statement or an XA
            // prepare, before the stop: replay commits it, so it is the last one reached (an Xid is counted as it begins).
            if (_stopPosition is null && _pendingGtid is not null) { _completeGtid = _pendingGtid; _pendingGtid = null; }
            CommitOpenTransaction();
        }
        _lastType = _type;
        if (_type == XidEvent || (_type != GtidEvent && wasOpen is { Standalone: true })) CommitOpenTransaction();
        if (_type == GtidEvent && _bodyFill >= 12)
        {
            // GTID event body: seq_no u64, domain_id u32; the server id is the header's (the originating server).
            var seq = BinaryPrimitives.ReadUInt64LittleEndian(_body);
            var domain = BinaryPrimitives.ReadUInt32LittleEndian(_body.AsSpan(8));
            var server = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(5));
            CommitOpenTransaction();
            _openTransaction = (domain, server, seq, _bodyFill > 12 && (_body[12] & 0x01) != 0); // flags2 & FL_STANDALONE
            if (_stopPosition is null && _eventStart >= startPosition) _pendingGtid = $"{domain}-{server}-{seq}";
            _bodyWanted = 0;
            return;
        }
        if (_type == RotateEvent && _bodyFill > 8)
        {
            // Rotate body: position u64, then the next file's name (with a 4-byte CRC32 after it when checksums are on).
            _rotatedTo = System.Text.Encoding.UTF8.GetString(_body, 8, Math.Max(0, _bodyFill - 8 - (_checksums ? 4 : 0)));
            _bodyWanted = 0;
            return;
        }
        if (_type == FormatDescriptionEvent && _bodyFill >= 5)
        {
            // The format description ends with the checksum algorithm (0 = none) and, when on, its own CRC32.
            _checksums = _body[_bodyFill - 5] is not (0 or 255);
            _bodyWanted = 0;
            return;
        }
        if (_type == GtidListEvent && _bodyWanted >= 4 && _gtidList is null)
        {
            var count = BinaryPrimitives.ReadUInt32LittleEndian(_body) & 0x0fffffff;
            var gtids = new List<string>();
            for (var i = 0; i < count && 4 + 16 * (i + 1) <= _bodyFill; i++)
            {
                var e = _body.AsSpan(4 + 16 * i);
                gtids.Add($"{BinaryPrimitives.ReadUInt32LittleEndian(e)}-{BinaryPrimitives.ReadUInt32LittleEndian(e[4..])}-{BinaryPrimitives.ReadUInt64LittleEndian(e[8..])}");
            }
            _gtidList = string.Join(",", gtids);
            _state = GtidState.Parse(_gtidList).ToBuilder();
        }
        _bodyWanted = 0;
    }

    private void Advance(ref ReadOnlySpan<byte> data, int n)
    {
        _position += n;
        data = data[n..];
    }
}
