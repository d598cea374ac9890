using BackupTools.TestServers;
using StackExchange.Redis;

namespace BackupTools.Tests;

/// <summary>Reading whole servers for comparison: every key's type, value and TTL, hash fields' own TTLs, functions.</summary>
internal static class RedisData
{
    public static async Task<ConnectionMultiplexer> ConnectAsync(RedisServer s, string? password = null) =>
        await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", s.Port } }, Password = password, AllowAdmin = true, SyncTimeout = 30000, AsyncTimeout = 30000 });

    /// <summary>
    /// Every key of every database: same type, same value, same TTL within a second; with <paramref name="fieldTtls"/>
    /// (Redis 7.4+) every hash field's expiry time exactly, and with <paramref name="functions"/> the same libraries.
    /// Returns how many keys were compared.
    /// </summary>
    public static async Task<int> AssertSameDataAsync(RedisServer expected, RedisServer actual, bool fieldTtls = false, bool functions = false)
    {
        await using var a = await ConnectAsync(expected);
        await using var b = await ConnectAsync(actual);
        var serverA = a.GetServer(a.GetEndPoints()[0]);
        var serverB = b.GetServer(b.GetEndPoints()[0]);
        var compared = 0;
        for (var dbIndex = 0; dbIndex < 16; dbIndex++)
        {
            var keysA = serverA.Keys(dbIndex, pageSize: 5000).Select(k => (string)k!).Order(StringComparer.Ordinal).ToList();
            var keysB = serverB.Keys(dbIndex, pageSize: 5000).Select(k => (string)k!).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(keysA.Count, keysB.Count);
            Assert.Equal(keysA, keysB);
            var dbA = a.GetDatabase(dbIndex);
            var dbB = b.GetDatabase(dbIndex);
            var checks = keysA.Select(async key =>
            {
                var (va, ta) = await ValueAsync(dbA, key, fieldTtls);
                var (vb, tb) = await ValueAsync(dbB, key, fieldTtls);
                Assert.Equal(va, vb);
                Assert.Equal(ta is null, tb is null);
                if (ta is not null) Assert.InRange(Math.Abs((ta.Value - tb!.Value).TotalSeconds), 0, 1);
            });
            await Task.WhenAll(checks);
            compared += keysA.Count;
        }
        Assert.True(compared > 0);
        if (functions)
        {
            var libraries = await FunctionsAsync(a);
            Assert.NotEmpty(libraries);
            Assert.Equal(libraries, await FunctionsAsync(b));
        }
        return compared;
    }

    /// <summary>The value, and the TTL as an absolute expiry time (PEXPIRETIME), so two servers read moments apart compare exactly.</summary>
    public static async Task<(string Value, DateTime? Ttl)> ValueAsync(IDatabase db, string key, bool fieldTtls = false)
    {
        var type = await db.KeyTypeAsync(key);
        var ttl = await db.KeyExpireTimeAsync(key);
        string value = type switch
        {
            RedisType.String => $"string:{await db.StringGetAsync(key)}",
            RedisType.List => "list:" + string.Join('|', await db.ListRangeAsync(key)),
            RedisType.Set => "set:" + string.Join('|', (await db.SetMembersAsync(key)).Select(v => (string)v!).Order(StringComparer.Ordinal)),
            RedisType.SortedSet => "zset:" + string.Join('|', (await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}")),
            RedisType.Hash => "hash:" + string.Join('|', (await HashAsync(db, key, fieldTtls)).Order(StringComparer.Ordinal)),
            RedisType.Stream => "stream:" + string.Join('|', (await db.StreamRangeAsync(key)).Select(e => e.Id + ":" + string.Join(',', e.Values.Select(v => $"{v.Name}={v.Value}")))) +
                                ":groups=" + string.Join(',', await GroupsAsync(db, key)),
            _ => throw new InvalidOperationException($"unexpected type {type} of {key}"),
        };
        return (value, ttl);
    }

    /// <summary>field=value, and with <paramref name="fieldTtls"/> @ the field's own expiry in ms (HPEXPIRETIME; -1 for none).</summary>
    private static async Task<IEnumerable<string>> HashAsync(IDatabase db, string key, bool fieldTtls)
    {
        var entries = await db.HashGetAllAsync(key);
        if (!fieldTtls) return entries.Select(e => $"{e.Name}={e.Value}");
        var times = await FieldExpiryTimesAsync(db, key, entries.Select(e => (string)e.Name!).ToList());
        return entries.Select((e, i) => $"{e.Name}={e.Value}@{times[i]}");
    }

    /// <summary>HPEXPIRETIME of each field, in the order given.</summary>
    public static async Task<long[]> FieldExpiryTimesAsync(IDatabase db, string key, IReadOnlyList<string> fields)
    {
        var reply = await db.ExecuteAsync("HPEXPIRETIME", [key, "FIELDS", fields.Count, .. fields]);
        return ((RedisResult[])reply!).Select(r => (long)r).ToArray();
    }

    /// <summary>Per group: name, pending count, last delivered ID, and each consumer with its pending count.</summary>
    private static async Task<IEnumerable<string>> GroupsAsync(IDatabase db, string key)
    {
        var result = new List<string>();
        foreach (var g in await db.StreamGroupInfoAsync(key))
        {
            var consumers = await db.StreamConsumerInfoAsync(key, g.Name);
            result.Add($"{g.Name}/{g.PendingMessageCount}/{g.LastDeliveredId}[{string.Join(';', consumers.Select(c => $"{c.Name}:{c.PendingMessageCount}").Order(StringComparer.Ordinal))}]");
        }
        return result;
    }

    /// <summary>FUNCTION LIST WITHCODE, flattened to text.</summary>
    private static async Task<string> FunctionsAsync(ConnectionMultiplexer mux) =>
        Flatten(await mux.GetDatabase().ExecuteAsync("FUNCTION", "LIST", "WITHCODE"));

    private static string Flatten(RedisResult r) =>
        r.Resp2Type == ResultType.Array ? "[" + string.Join(",", ((RedisResult[])r!).Select(Flatten)) + "]" : r.ToString();
}
