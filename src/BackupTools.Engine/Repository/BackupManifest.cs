using System.Text.Json;
using System.Text.Json.Serialization;

namespace BackupTools.Engine.Repository;

/// <summary>
/// manifest.json: the self-describing record of one backup set, written last. Its presence is what makes a set
/// exist; <see cref="SchemaVersion"/> lets later versions read older sets.
/// </summary>
public sealed record BackupManifest
{
    public const string SchemaName = "https://backuptools/schemas/manifest";
    public const int CurrentSchemaVersion = 1;
    public const string FileName = "manifest.json";

    public string Schema { get; init; } = SchemaName;
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    public required string Id { get; init; }
    public required string Engine { get; init; }
    public required string Target { get; init; }
    public required string Type { get; init; }
    public required DateTime StartTime { get; init; }
    public required DateTime EndTime { get; init; }
    public double DurationSeconds { get; init; }
    public long RawBytes { get; init; }
    public long StoredBytes { get; init; }
    public string? ParentId { get; init; }
    public string? ToolVersion { get; init; }
    public string? ServerVersion { get; init; }
    public string? Host { get; init; }
    public string? BackupToolsVersion { get; init; }
    public IReadOnlyList<WrittenFile> Files { get; init; } = [];
    /// <summary>Engine-specific facts (LSN range, binlog file/position/GTID, snapshot name …) as plain strings.</summary>
    public IReadOnlyDictionary<string, string> EngineFields { get; init; } = new Dictionary<string, string>();
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(JournalEntry))]
[JsonSerializable(typeof(LockLease))]
internal sealed partial class RepositoryJson : JsonSerializerContext
{
    /// <summary>One line per record in the journal.</summary>
    public static RepositoryJson Compact { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });
}
