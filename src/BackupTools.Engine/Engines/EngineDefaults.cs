using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;

namespace BackupTools.Engine.Engines;

/// <summary>What engines without anything special answer (snapshot engines: no window, no timelines).</summary>
internal static class EngineDefaults
{
    public static RetentionItem Item(CatalogEntry e) => new(
        e.Manifest.Id, e.Manifest.Type, e.Manifest.StartTime, e.Manifest.EndTime, e.Manifest.ParentId,
        e.Manifest.EngineFields.GetValueOrDefault(MariaDb.EngineFieldNames.BinlogFile), e.Manifest.StoredBytes);

    public static IReadOnlyList<RetentionItem> Items(IReadOnlyList<CatalogEntry> entries) => entries.Select(Item).ToList();

    /// <summary>The keys of Elasticsearch targets, which a server reached by socket or host and port has no use for.</summary>
    public static readonly string[] ElasticsearchKeys = ["url", "snapshotRepository", "indices", "snapshotRepositorySettings"];

    /// <summary>Keys that only another engine takes: each reported with what it is for.</summary>
    public static void Foreign(TargetKeys keys, Action<string?, string> problem, IEnumerable<(string Key, string Message)> rules)
    {
        foreach (var (key, message) in rules)
            if (keys.Present.Contains(key)) problem(key, message);
    }
}
