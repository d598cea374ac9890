using System.Globalization;
using System.Text;

namespace BackupTools.Engine.Redis;

/// <summary>
/// Who numbers the format. Redis and Valkey share RDB up to 11 (Redis 7.2, Valkey 7.2 and 8.x, magic "REDIS0011");
/// then they forked: Redis 7.4 and 8.x write RDB 12, Valkey 9 writes RDB 80 under the magic "VALKEY080" and reserves
/// 12-79 for Redis, and the two give the same type numbers (22, 23) different meanings (valkey src/rdb.h).
/// </summary>
public enum RdbDialect { Redis, Valkey }

/// <summary>The 9-byte header: "REDIS" and 4 digits, or "VALKEY" and 3 digits.</summary>
public sealed record RdbHeader(RdbDialect Dialect, int Version)
{
    public const int Length = 9;

    /// <summary>The newest version of each dialect the walker knows every value type of.</summary>
    public const int NewestRedis = 12, NewestValkey = 80;

    public bool Known => Dialect == RdbDialect.Redis ? Version <= NewestRedis : Version == NewestValkey;

    public override string ToString() => Dialect == RdbDialect.Redis ? $"RDB {Version}" : $"Valkey RDB {Version}";

    public static RdbHeader Parse(ReadOnlySpan<byte> header)
    {
        // Valkey writes its own magic only above the range it reserves for Redis (rdbUseValkeyMagic: version > 79).
        if (header[..5].SequenceEqual("REDIS"u8) && TryDigits(header[5..], out var redis) && redis is >= 1 and < 80)
            return new RdbHeader(RdbDialect.Redis, redis);
        if (header[..6].SequenceEqual("VALKEY"u8) && TryDigits(header[6..], out var valkey) && valkey >= 80)
            return new RdbHeader(RdbDialect.Valkey, valkey);
        throw new RdbFormatException("The dump does not start with an RDB header ('REDIS' and a 4-digit version, or 'VALKEY' and a 3-digit one from 80 on).");
    }

    private static bool TryDigits(ReadOnlySpan<byte> digits, out int value) =>
        int.TryParse(Encoding.ASCII.GetString(digits), NumberStyles.None, CultureInfo.InvariantCulture, out value);
}

/// <summary>Type numbers and opcodes, from redis src/rdb.h (7.4/8.x) and valkey src/rdb.h (9.0).</summary>
internal static class RdbCodes
{
    // Redis 7.4 and 8.x (RDB 12): hashes with field expiry. The PRE_GA pair is what 7.4's release candidates wrote.
    public const byte RedisHashMetadataPreGa = 22, RedisHashListpackExPreGa = 23, RedisHashMetadata = 24, RedisHashListpackEx = 25;
    // Valkey 9 (RDB 80): a hash with field expiry, its own layout under the number Redis uses for HASH_METADATA_PRE_GA.
    public const byte ValkeyHash2 = 22;

    public const byte SlotImport = 243;   // Valkey 9: a slot migration in progress (cluster mode)
    public const byte SlotInfo = 244;     // Redis 7.4+: keys and expires per cluster slot
    public const byte Function2 = 245;    // Redis 7.0+: one function library's source
    public const byte FunctionPreGa = 246; // Redis 7.0 release candidates; Redis itself refuses to load it
    public const byte ModuleAux = 247, Idle = 248, Freq = 249, Aux = 250, ResizeDb = 251;
    public const byte ExpireTimeMs = 252, ExpireTime = 253, SelectDb = 254, Eof = 255;
}
