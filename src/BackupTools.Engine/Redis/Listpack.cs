using System.Buffers.Binary;

namespace BackupTools.Engine.Redis;

/// <summary>
/// Reads a listpack (redis src/listpack.c: 4-byte total size, 2-byte count, entries each followed by their length
/// backwards, 0xFF) just far enough to count the hash fields with a TTL in Redis 7.4+'s HASH_LISTPACK_EX, whose
/// entries are triples field, value, expiry; an expiry of 0 means none (HASH_LP_NO_TTL in src/t_hash.c).
/// </summary>
internal static class Listpack
{
    public static long CountExpiringFields(ReadOnlySpan<byte> lp)
    {
        if (lp.Length < 7 || BinaryPrimitives.ReadUInt32LittleEndian(lp) != (uint)lp.Length || lp[^1] != 0xFF)
            throw Invalid("its size or end marker is wrong");
        long entries = 0, expiring = 0;
        var p = 6;
        while (lp[p] != 0xFF)
        {
            var (size, integer, zero) = Entry(lp, p);
            if (entries % 3 == 2)
            {
                if (!integer) throw Invalid("a field's expiry is not a number");
                if (!zero) expiring++;
            }
            p += size + BacklenSize(size);
            if (p >= lp.Length) throw Invalid("an entry runs past its end");
            entries++;
        }
        if (p != lp.Length - 1 || entries % 3 != 0) throw Invalid("it does not hold whole field, value, expiry triples");
        return expiring;
    }

    /// <summary>An entry's encoding and data size, whether it is an integer, and whether that integer is 0.</summary>
    private static (int Size, bool Integer, bool Zero) Entry(ReadOnlySpan<byte> lp, int p)
    {
        int b = lp[p];
        (int Size, bool Integer, bool Zero) entry = b switch
        {
            < 0x80 => (1, true, b == 0),                                 // 7-bit unsigned integer
            _ when (b & 0xC0) == 0x80 => (1 + (b & 0x3F), false, false),  // string up to 63 bytes
            _ when (b & 0xE0) == 0xC0 => (2, true, (b & 0x1F) == 0 && At(lp, p + 1) == 0), // 13-bit integer
            _ when (b & 0xF0) == 0xE0 => (2 + (((b & 0x0F) << 8) | At(lp, p + 1)), false, false), // string up to 4095 bytes
            0xF0 => (LongStringSize(lp, p), false, false),                // string with a 32-bit length
            0xF1 or 0xF2 or 0xF3 => (1 + b - 0xEF, true, false),          // 16-, 24-, 32-bit integers
            0xF4 => (9, true, false),                                     // 64-bit integer
            _ => throw Invalid($"an entry has the unknown encoding 0x{b:x2}"),
        };
        if (p + entry.Size >= lp.Length) throw Invalid("an entry runs past its end");
        if (b is >= 0xF1 and <= 0xF4) entry.Zero = !lp.Slice(p + 1, entry.Size - 1).ContainsAnyExcept((byte)0);
        return entry;
    }

    private static int LongStringSize(ReadOnlySpan<byte> lp, int p)
    {
        if (p + 5 > lp.Length) throw Invalid("an entry runs past its end");
        var length = BinaryPrimitives.ReadUInt32LittleEndian(lp.Slice(p + 1, 4));
        return length < (uint)lp.Length ? 5 + (int)length : throw Invalid("an entry runs past its end");
    }

    private static int At(ReadOnlySpan<byte> lp, int i) => i < lp.Length ? lp[i] : throw Invalid("an entry runs past its end");

    /// <summary>lpEncodeBacklen's sizes.</summary>
    private static int BacklenSize(int size) => size switch { <= 127 => 1, < 16383 => 2, < 2097151 => 3, < 268435455 => 4, _ => 5 };

    private static RdbFormatException Invalid(string why) => new($"The dump holds a hash listpack that cannot be read ({why}): it is damaged.");
}
