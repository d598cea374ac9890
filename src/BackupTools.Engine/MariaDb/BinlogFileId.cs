using System.Globalization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Which binary log file this is, not just its name: after RESET MASTER, a failover to a replica with the same basename,
/// or a restore that restarts the numbering, two different files are both called <c>mariadb-bin.000001</c>. A file is
/// the server that wrote it (server id and log basename), its name, the second it was created (the format description
/// event's time) and the GTID state it starts from. A part that is not known (older manifests) matches anything.
/// </summary>
public sealed record BinlogFileId(string Name, uint? ServerId, string? Basename, DateTime? Created, GtidState? Start)
{
    /// <summary>The sequence number in the name (12 for mariadb-bin.000012), or null for a name without one.</summary>
    /// <remarks>Split from the name once (sorting a long history compares numbers hundreds of thousands of times); never
    /// make a BinlogFileId with <c>with { Name = … }</c>, which would keep the old number.</remarks>
    public long? Number { get; } = BinlogArchiver.TrySplit(Name, out _, out var n, out _) ? n : null;

    /// <summary>Whether the name has a number, and the name without it (mariadb-bin), as BinlogArchiver.TrySplit gives them.</summary>
    private (bool Split, string Prefix) Parts { get; } = (BinlogArchiver.TrySplit(Name, out var p, out _, out _), p);

    public bool SameFileAs(BinlogFileId other) =>
        Name == other.Name && SameOrigin(other) && Same(Created, other.Created) && Same(Start, other.Start);

    /// <summary>Written by the same server into the same log basename.</summary>
    public bool SameOrigin(BinlogFileId other) =>
        Same(ServerId, other.ServerId) && Same(Basename, other.Basename) && Parts == other.Parts;

    private static bool Same<T>(T? a, T? b) => a is null || b is null || a.Equals(b);

    public string Describe() =>
        $"{Name}" + (ServerId is { } id ? $" of server {id.ToString(CultureInfo.InvariantCulture)}" : "") +
        (Created is { } c ? $" created {RestoreText.Time(c)}" : "");

    /// <summary>The file an archived binlog set holds.</summary>
    public static BinlogFileId OfArchived(BackupManifest m)
    {
        var f = m.EngineFields;
        return new BinlogFileId(f[EngineFieldNames.BinlogFile], ServerIdOf(f), f.GetValueOrDefault(EngineFieldNames.LogBasename),
            Time(f, EngineFieldNames.FirstEventTime), Gtids(f, EngineFieldNames.GtidListAtStart));
    }

    /// <summary>The file a full or incremental backup's binlog position is in; null when it recorded none.</summary>
    public static BinlogFileId? OfBackup(BackupManifest m)
    {
        var f = m.EngineFields;
        if (f.GetValueOrDefault(EngineFieldNames.BinlogFile) is not { } name) return null;
        return new BinlogFileId(name, ServerIdOf(f), f.GetValueOrDefault(EngineFieldNames.LogBasename),
            Time(f, EngineFieldNames.BinlogFileCreated), Gtids(f, EngineFieldNames.BinlogFileGtidList));
    }

    /// <summary>The state, or null (unknown) when the field is missing: older versions left an empty list out.</summary>
    private static GtidState? Gtids(IReadOnlyDictionary<string, string> f, string key) =>
        f.TryGetValue(key, out var s) ? GtidState.TryParse(s) : null;

    private static uint? ServerIdOf(IReadOnlyDictionary<string, string> f) =>
        f.TryGetValue(EngineFieldNames.ServerId, out var s) && uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;

    internal static DateTime? Time(IReadOnlyDictionary<string, string> f, string key) =>
        f.TryGetValue(key, out var s)
            ? DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)
            : null;
}
