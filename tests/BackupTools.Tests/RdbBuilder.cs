using System.Buffers.Binary;
using System.Text;
using BackupTools.Engine.Redis;

namespace BackupTools.Tests;

/// <summary>
/// Writes RDB bytes by hand, encoding by encoding as redis and valkey src/rdb.c write them, for formats no server here
/// can produce (Valkey 9, Redis 7.4's release candidates, a server newer than the walker).
/// </summary>
internal sealed class RdbBuilder
{
    private readonly MemoryStream _bytes = new();

    public RdbBuilder(string magic) => Raw(Encoding.ASCII.GetBytes(magic));

    public RdbBuilder Raw(params byte[] bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public RdbBuilder Type(byte type) => Raw(type);

    public RdbBuilder Length(ulong n) => n switch
    {
        < 64 => Raw((byte)n),
        < 16384 => Raw((byte)(0x40 | (n >> 8)), (byte)n),
        <= uint.MaxValue => Raw(0x80).BigEndian32((uint)n),
        _ => Raw(0x81).BigEndian64(n),
    };

    public RdbBuilder String(string s) => String(Encoding.UTF8.GetBytes(s));

    public RdbBuilder String(byte[] s) => Length((ulong)s.Length).Raw(s);

    public RdbBuilder Aux(string key, string value) => Type(0xFA).String(key).String(value);

    public RdbBuilder UInt64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Raw(b.ToArray());
    }

    /// <summary>A string key with a string value, optionally with an absolute expiry (EXPIRETIME_MS).</summary>
    public RdbBuilder StringKey(string key, string value, DateTime? expires = null)
    {
        if (expires is { } at) Type(0xFC).UInt64((ulong)new DateTimeOffset(at).ToUnixTimeMilliseconds());
        return Type(0).String(key).String(value);
    }

    /// <summary>The end marker and the CRC-64 of everything before it (or 0, as rdbchecksum no writes it).</summary>
    public byte[] Finish(bool checksum = true)
    {
        Raw(0xFF);
        var crc = checksum ? Crc64.Compute(_bytes.ToArray()) : 0;
        return UInt64(crc)._bytes.ToArray();
    }

    private RdbBuilder BigEndian32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return Raw(b.ToArray());
    }

    private RdbBuilder BigEndian64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return Raw(b.ToArray());
    }

    /// <summary>
    /// A listpack of short strings and integers (redis src/listpack.c: 6-bit strings, 7-bit and 64-bit integers, each
    /// entry followed by its one-byte back length).
    /// </summary>
    public static byte[] Listpack(params object[] entries)
    {
        var body = new MemoryStream();
        foreach (var e in entries)
        {
            byte[] entry = e switch
            {
                string s when Encoding.UTF8.GetByteCount(s) < 64 => [(byte)(0x80 | Encoding.UTF8.GetByteCount(s)), .. Encoding.UTF8.GetBytes(s)],
                long n when n is >= 0 and < 128 => [(byte)n],
                long n => [0xF4, .. BitConverter.GetBytes(n)],
                _ => throw new ArgumentException($"not a short string or a long: {e}"),
            };
            body.Write(entry);
            body.WriteByte((byte)entry.Length);
        }
        var total = 4 + 2 + (int)body.Length + 1;
        var lp = new byte[total];
        BinaryPrimitives.WriteUInt32LittleEndian(lp, (uint)total);
        BinaryPrimitives.WriteUInt16LittleEndian(lp.AsSpan(4), (ushort)entries.Length);
        body.ToArray().CopyTo(lp, 6);
        lp[^1] = 0xFF;
        return lp;
    }
}
