using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Platform;

/// <summary>One part of a recorded drill.</summary>
/// <param name="Restored">False for a part a drill only checks (Elasticsearch restores into its cluster, never into scratch).</param>
/// <param name="Ran">False for a part the drill never got to (another part could not reach the point): it says nothing about this part.</param>
public sealed record DrillPart(string Part, string Kind, string Engine, bool Succeeded, bool Restored, double DurationSeconds, long Bytes, double? OffsetSeconds,
    string? Error, bool Ran = true);

/// <summary>One drill (Test-Platform) as recorded: when, to which point, how long each part and the whole took, and how it ended.</summary>
public sealed record DrillRecord(DateTime Started, DateTime AsOf, bool Succeeded, double DurationSeconds, string? Error, string Host, IReadOnlyList<DrillPart> Parts);

/// <summary>
/// The drill history under <c>_drills/</c> (one JSON line per drill, one file per month): what Get-BackupStatus reads
/// for the measured RTO and the drills' age and result, and what the HTML report charts. A drill that could not even
/// start (no common window, a part without a backup) is recorded too, failed: a drill job that fails silently would be
/// a drill nobody knows is not happening.
/// </summary>
public static class DrillJournal
{
    public const string DirectoryName = "_drills";

    public static DrillRecord Append(string repositoryRoot, PlatformRestoreResult result)
    {
        var record = new DrillRecord(result.Started, result.AsOf, result.Succeeded, result.Duration.TotalSeconds, result.Error, Environment.MachineName,
            result.Parts.Select(p => new DrillPart(p.Part, p.Kind.ToString(), p.Engine, p.Succeeded, p.Detail is not string, p.Duration.TotalSeconds,
                p.Bytes, p.Offset?.TotalSeconds, p.Error, p.Ran)).ToList());
        Append(repositoryRoot, record);
        return record;
    }

    public static void Append(string repositoryRoot, DrillRecord record) =>
        RunJournal.AppendLine(Path.Combine(repositoryRoot, DirectoryName), $"{record.Started:yyyy-MM}.jsonl",
            Encoding.UTF8.GetBytes(JsonSerializer.Serialize(record, DrillJson.Default.DrillRecord) + "\n"));

    /// <summary>Every drill, oldest first.</summary>
    public static IReadOnlyList<DrillRecord> Read(string repositoryRoot, Action<string>? warn = null)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.jsonl").Order(StringComparer.Ordinal)
            .SelectMany(f => RunJournal.ReadLines(f, DrillJson.Default.DrillRecord, "drill record", warn))
            .OrderBy(d => d.Started).ToList();
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DrillRecord))]
internal sealed partial class DrillJson : JsonSerializerContext;
