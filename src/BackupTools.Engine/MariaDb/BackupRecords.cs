using System.Globalization;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.MariaDb;

/// <summary>Builds the <see cref="BackupRecord"/>s PowerShell sees from manifests and from failed attempts.</summary>
public static class BackupRecords
{
    public static BackupRecord FromCatalog(CatalogEntry entry, string? policyPath)
    {
        var m = entry.Manifest;
        var f = m.EngineFields;
        return new BackupRecord
        {
            Id = m.Id, Engine = m.Engine, Target = m.Target, Type = m.Type, Status = BackupOutcome.Succeeded,
            StartTime = DateTime.SpecifyKind(m.StartTime, DateTimeKind.Utc), EndTime = DateTime.SpecifyKind(m.EndTime, DateTimeKind.Utc),
            Duration = TimeSpan.FromSeconds(m.DurationSeconds), RawBytes = m.RawBytes, StoredBytes = m.StoredBytes,
            Path = entry.Path, ParentId = m.ParentId,
            FromLsn = f.GetValueOrDefault(EngineFieldNames.FromLsn), ToLsn = f.GetValueOrDefault(EngineFieldNames.ToLsn),
            BinlogFile = f.GetValueOrDefault(EngineFieldNames.BinlogFile),
            BinlogPosition = f.TryGetValue(EngineFieldNames.BinlogPosition, out var p) ? long.Parse(p, CultureInfo.InvariantCulture) : null,
            Gtid = f.GetValueOrDefault(EngineFieldNames.Gtid),
            FirstEventTime = Time(f, EngineFieldNames.FirstEventTime), LastEventTime = Time(f, EngineFieldNames.LastEventTime),
            ServerVersion = m.ServerVersion, ToolVersion = m.ToolVersion, PolicyPath = policyPath,
        };
    }

    public static BackupAttempt Failed(string engine, string target, string type, string? id, DateTime start, Exception error, string? policyPath)
    {
        var end = DateTime.UtcNow;
        return new BackupAttempt(new BackupRecord
        {
            Id = id ?? BackupSetWriter.NewId(start), Engine = engine, Target = target, Type = type, Status = BackupOutcome.Failed,
            StartTime = start, EndTime = end, Duration = end - start, Error = error.Message, PolicyPath = policyPath,
        }, error);
    }

    public static string FormatTime(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static DateTime? Time(IReadOnlyDictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var text)
            ? DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)
            : null;
}
