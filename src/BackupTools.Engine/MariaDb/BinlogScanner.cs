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
    /// <summary>The file ends with a Rotate or Stop event: the server closed it, it was not cut off.</summary>
    public bool ClosedCleanly { get; init; }
    /// <summary>With a stop time: the offset of the first event at or after it (where replay stops), else null.</summary>
    public long? StopPosition { get; init; }
    /// <summary>The GTID of the last transaction that ends before the stop point (or in the file).</summary>
    public string? LastCompleteGtid { get; init; }
}

/// <summary>
/// A read-only pass-through over a binary log file that parses event headers as the bytes go by, so archiving reads
/// each file once. Header (v4): timestamp u32, type u8, server_id u32, event_size u32, next_pos u32, flags u16.
/// With a stop time it also finds where <c>mariadb-binlog --stop-datetime</c> stops (the first event at or after it,
/// from <paramref name="startPosition"/> on) and the last transaction completed before that, for the restore's result.
/// </summary>
public sealed class BinlogScanner(Stream inner, DateTime? stopAt = null, long startPosition = 0) : ObservingReadStream(inner)
{
    private const int HeaderSize = 19;
    private const byte StopEvent = 3, RotateEvent = 4, XidEvent = 16, GtidEvent = 162, GtidListEvent = 163;
    private readonly long? _stopAt = stopAt is { } s ? (long)(s - DateTime.UnixEpoch).TotalSeconds : null;
    private long? _stopPosition;
    private long _eventStart;
    private string? _pendingGtid, _completeGtid;
    private static readonly byte[] Magic = [0xfe, 0x62, 0x69, 0x6e];

    private readonly byte[] _header = new byte[HeaderSize];
    private readonly byte[] _body = new byte[4 + 16 * 64]; // Gtid_list: count + up to 64 domains
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
                ClosedCleanly = _lastType is RotateEvent or StopEvent,
                StopPosition = _stopPosition,
                LastCompleteGtid = _stopPosition is null ? _pendingGtid ?? _completeGtid : _completeGtid,
            };
        }
    }

    protected override void Observe(ReadOnlySpan<byte> chunk) => Scan(chunk);

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
            && _type is not (RotateEvent or 15)) // the format description is always read first
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
        _bodyWanted = (_type == GtidListEvent && _gtidList is null) || (_type == GtidEvent && _stopPosition is null)
            ? (int)Math.Min(_bodyLeft, _body.Length) : 0;
        if (_bodyLeft == 0) EndEvent();
    }

    private void EndEvent()
    {
        _lastType = _type;
        if (_type == GtidEvent && _bodyFill >= 12 && _stopPosition is null && _eventStart >= startPosition)
        {
            // GTID event body: seq_no u64, domain_id u32; the server id is the header's.
            var seq = BinaryPrimitives.ReadUInt64LittleEndian(_body);
            var domain = BinaryPrimitives.ReadUInt32LittleEndian(_body.AsSpan(8));
            _pendingGtid = $"{domain}-{BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(5))}-{seq}";
            _bodyWanted = 0;
            return;
        }
        if (_bodyWanted >= 4 && _gtidList is null)
        {
            var count = BinaryPrimitives.ReadUInt32LittleEndian(_body) & 0x0fffffff;
            var gtids = new List<string>();
            for (var i = 0; i < count && 4 + 16 * (i + 1) <= _bodyFill; i++)
            {
                var e = _body.AsSpan(4 + 16 * i);
                gtids.Add($"{BinaryPrimitives.ReadUInt32LittleEndian(e)}-{BinaryPrimitives.ReadUInt32LittleEndian(e[4..])}-{BinaryPrimitives.ReadUInt64LittleEndian(e[8..])}");
            }
            _gtidList = string.Join(",", gtids);
        }
        _bodyWanted = 0;
    }

    private void Advance(ref ReadOnlySpan<byte> data, int n)
    {
        _position += n;
        data = data[n..];
    }
}
