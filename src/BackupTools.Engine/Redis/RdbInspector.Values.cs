namespace BackupTools.Engine.Redis;

/// <summary>The value encodings: how far each one reaches, and the hash fields with a TTL in those that have them.</summary>
public sealed partial class RdbInspector
{
    /// <summary>
    /// Types 22-25 mean different things in the two dialects (or nothing before Redis RDB 12), so the header decides.
    /// Type 6 (module values of Redis 4.0's release candidates) cannot be walked without the module.
    /// </summary>
    private bool KnowsValueType(byte type) => type switch
    {
        <= 5 or 7 or (>= 9 and <= 21) => true,
        >= RdbCodes.RedisHashMetadataPreGa and <= RdbCodes.RedisHashListpackEx when _header.Dialect == RdbDialect.Redis => _header.Version >= 12,
        RdbCodes.ValkeyHash2 when _header.Dialect == RdbDialect.Valkey => true,
        _ => false,
    };

    /// <summary>Skips one value; returns how many of its hash fields carry a TTL of their own.</summary>
    private long SkipValue(byte type)
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
            case RdbCodes.ValkeyHash2 when _header.Dialect == RdbDialect.Valkey: return SkipValkeyHash2();
            case RdbCodes.RedisHashMetadataPreGa: return SkipRedisHashMetadata(relative: false);
            case RdbCodes.RedisHashMetadata: return SkipRedisHashMetadata(relative: true);
            case RdbCodes.RedisHashListpackExPreGa: return Listpack.CountExpiringFields(ReadBlob());
            case RdbCodes.RedisHashListpackEx:
                Skip(8); // the hash's earliest field expiry, then the listpack
                return Listpack.CountExpiringFields(ReadBlob());
        }
        return 0;
    }

    /// <summary>
    /// Redis 7.4+ HASH_METADATA (a hash table with field TTLs, rdbLoadObject in src/rdb.c): the earliest expiry (GA
    /// only), the field count, then per field its TTL as a length (0: none; GA: relative to that earliest expiry, plus
    /// 1), the field and the value.
    /// </summary>
    private long SkipRedisHashMetadata(bool relative)
    {
        if (relative) Skip(8);
        long expiring = 0;
        for (var n = ReadLength(); n > 0; n--)
        {
            if (ReadLength() != 0) expiring++;
            SkipString();
            SkipString();
        }
        return expiring;
    }

    /// <summary>Valkey 9 HASH_2 (valkey src/rdb.c): the field count, then per field the field, the value and an 8-byte expiry in ms, -1 for none.</summary>
    private long SkipValkeyHash2()
    {
        long expiring = 0;
        for (var n = ReadLength(); n > 0; n--)
        {
            SkipString();
            SkipString();
            if ((long)ReadUInt64() != -1) expiring++;
        }
        return expiring;
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
                case var other: throw new NewerThanWalkerException($"The dump holds a module value with the unknown opcode {other} at byte {_consumed - 1}");
            }
        }
    }

    private void SkipStrings(ulong count)
    {
        for (; count > 0; count--) SkipString();
    }
}
