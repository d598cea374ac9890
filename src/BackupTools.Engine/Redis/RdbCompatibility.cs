namespace BackupTools.Engine.Redis;

/// <summary>
/// Which server loads which dump. A server refuses a dump newer than its own format ("Can't handle RDB format
/// version") and exits, so a -Replace restore of one would stop the server and leave it down; this is checked before
/// anything is touched. Only releases named here are judged: a server newer than all of them is let try.
/// </summary>
public static class RdbCompatibility
{
    /// <summary>The RDB version each Redis release line writes and loads up to (redis src/rdb.h, per release).</summary>
    private static readonly (Version Release, int Rdb)[] RedisReleases =
        [(new(2, 6), 6), (new(3, 2), 7), (new(4, 0), 8), (new(5, 0), 9), (new(7, 0), 10), (new(7, 2), 11), (new(7, 4), 12), (new(8, 0), 12)];

    /// <summary>Valkey 7.2 and 8.x load RDB 11 and older; 9.0 adds its own RDB 80 (valkey src/rdb.h RDB_VERSION_MAP).</summary>
    private static readonly (Version Release, int Rdb)[] ValkeyReleases = [(new(7, 2), 11), (new(9, 0), 80)];

    /// <summary>
    /// Null when the server at hand can load the dump (or is too new to judge), else why it cannot, naming both versions.
    /// </summary>
    /// <param name="server">INFO server of the target.</param>
    /// <param name="rdbVersionCheck">Valkey 9's CONFIG GET rdb-version-check ('relaxed' loads Redis's 12-79 too), if read.</param>
    public static string? Refusal(RdbHeader dump, string? writtenBy, IReadOnlyDictionary<string, string> server, string? rdbVersionCheck)
    {
        var valkey = server.ContainsKey("valkey_version") || server.GetValueOrDefault("server_name") == "valkey";
        var text = valkey ? server.GetValueOrDefault("valkey_version") ?? server.GetValueOrDefault("redis_version") : server.GetValueOrDefault("redis_version");
        if (text is null || !Version.TryParse(text, out var release)) return null;
        var name = $"{(valkey ? "Valkey" : "Redis")} {text}";
        var snapshot = $"The snapshot is {dump}{(writtenBy is null ? "" : $" (written by {writtenBy})")}";
        var releases = valkey ? ValkeyReleases : RedisReleases;
        if (release >= new Version(releases[^1].Release.Major, releases[^1].Release.Minor + 1)) return null; // newer than we know
        var loads = releases.LastOrDefault(r => release >= r.Release).Rdb;

        if (!valkey)
        {
            if (dump.Dialect == RdbDialect.Valkey)
                return $"{snapshot}, a Valkey format that Redis cannot load, and the server is {name}. Restore it into Valkey {MinimumValkey(dump.Version)} or later.";
            return dump.Version <= loads ? null
                : $"{snapshot}, but the server is {name}, which loads RDB {loads} and older. Restore it into Redis {MinimumRedis(dump.Version)} or later, or with -Destination for a newer server.";
        }
        if (dump.Dialect == RdbDialect.Valkey)
            return dump.Version <= loads ? null
                : $"{snapshot}, but the server is {name}, which loads {(loads >= 80 ? $"Valkey RDB {loads}" : $"RDB {loads}")} and older. Restore it into Valkey {MinimumValkey(dump.Version)} or later.";
        if (dump.Version <= 11) return null;
        // Redis 7.4+ formats: Valkey reserves 12-79 for them and refuses them unless told to try (Valkey 9+).
        if (loads >= 80 && string.Equals(rdbVersionCheck, "relaxed", StringComparison.OrdinalIgnoreCase)) return null;
        return $"{snapshot}, a Redis 7.4+ format, but the server is {name}, which refuses RDB 12-79{(loads >= 80 ? " unless 'rdb-version-check relaxed' is set" : "")}. " +
               $"Restore it into Redis {MinimumRedis(dump.Version)} or later.";
    }

    private static string MinimumRedis(int rdb) =>
        RedisReleases.FirstOrDefault(r => r.Rdb >= rdb) is { Release: { } v } ? $"{v.Major}.{v.Minor}" : "a release newer than 8.0";

    private static string MinimumValkey(int rdb) =>
        ValkeyReleases.FirstOrDefault(r => r.Rdb >= rdb) is { Release: { } v } ? $"{v.Major}.{v.Minor}" : "a release newer than 9.0";
}
