namespace BackupTools.Engine.Redis;

/// <summary>
/// The CRC-64 Redis ends every RDB file with (Jones polynomial, reflected, initial value 0, no final xor; check value
/// of "123456789" is 0xe9c6d914c4b8d9ca). Slicing-by-8, so checking a dump costs little beside hashing it.
/// </summary>
public sealed class Crc64
{
    private const ulong ReflectedPolynomial = 0x95ac9329ac4bc9b5;
    private static readonly ulong[][] Tables = BuildTables();

    public ulong Value { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        var crc = Value;
        var t = Tables;
        while (data.Length >= 8)
        {
            crc ^= BitConverter.ToUInt64(data);
            crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^ t[4][(crc >> 24) & 0xff] ^
                  t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^ t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
            data = data[8..];
        }
        foreach (var b in data) crc = t[0][(crc ^ b) & 0xff] ^ (crc >> 8);
        Value = crc;
    }

    public static ulong Compute(ReadOnlySpan<byte> data)
    {
        var c = new Crc64();
        c.Append(data);
        return c.Value;
    }

    private static ulong[][] BuildTables()
    {
        var tables = new ulong[8][];
        for (var k = 0; k < 8; k++) tables[k] = new ulong[256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ulong)i;
            for (var j = 0; j < 8; j++) crc = (crc & 1) != 0 ? (crc >> 1) ^ ReflectedPolynomial : crc >> 1;
            tables[0][i] = crc;
        }
        for (var i = 0; i < 256; i++)
            for (var k = 1; k < 8; k++)
                tables[k][i] = tables[0][tables[k - 1][i] & 0xff] ^ (tables[k - 1][i] >> 8);
        return tables;
    }
}
