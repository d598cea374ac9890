using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>One moment a model version was known to be the one at the model's path: a backup read it there, or a restore put it there.</summary>
/// <param name="Hash">The version's manifest hash: a version name reused later for other content (after retention removed the first) never matches.</param>
public sealed record ModelDeployment(DateTime Time, string Version, string How, string? Hash = null);

/// <summary>
/// The history of which version of a model was deployed when (<c>models/&lt;name&gt;/deployments.jsonl</c>), so a
/// platform restore to a point brings back the version that ran then, not merely the newest one backed up before it.
/// Backup-AiModel of the model's own path records the version it read (when it differs from the last record), a
/// Restore-AiModel into the model's path records the version it put there. A deployment between two backups is known
/// only from the second one: the history says "deployed at least from", which is what a restore can promise.
/// </summary>
public static class ModelDeployments
{
    private const string FileName = "deployments.jsonl";
    private const string CheckedFile = "last-backup";
    /// <summary>How a version is known when no deployment was recorded by the point.</summary>
    public const string Fallback = "the newest version backed up by then (no deployment recorded before it)";

    /// <summary>Records <paramref name="version"/> as deployed from <paramref name="time"/>, unless the last record already says so.</summary>
    public static void Record(string repositoryRoot, string name, string version, DateTime time, string how, string? hash = null)
    {
        // Every backup of the model's path, changed or not, proves the deployed model is held as of then: the model's
        // achieved RPO (Get-BackupStatus) counts from here, not from the last version that changed.
        if (how == "backup")
        {
            var checkedPath = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), CheckedFile);
            File.Delete(checkedPath + ".partial"); // a crash's leftover
            FileModes.WriteDurably(checkedPath + ".partial", Encoding.UTF8.GetBytes(time.ToUniversalTime().ToString("o", System.Globalization.CultureInfo.InvariantCulture)));
            File.Move(checkedPath + ".partial", checkedPath, overwrite: true);
        }
        var last = Read(repositoryRoot, name).LastOrDefault();
        if (last is not null && last.Version == version && (last.Hash is null || hash is null || last.Hash == hash) && how == "backup") return;
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new ModelDeployment(time.ToUniversalTime(), version, how, hash), DeploymentJson.Default.ModelDeployment) + "\n");
        RunJournal.AppendLine(ModelBackup.ModelDirectory(repositoryRoot, name), FileName, line);
    }

    /// <summary>When a backup last read the model's path (whether or not it found a new version); null before the first.</summary>
    public static DateTime? LastBackup(string repositoryRoot, string name)
    {
        var path = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), CheckedFile);
        try
        {
            return File.Exists(path) && DateTime.TryParse(File.ReadAllText(path), System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var t) ? t : null;
        }
        catch (IOException) { return null; }
    }

    /// <summary>The history, oldest first.</summary>
    public static IReadOnlyList<ModelDeployment> Read(string repositoryRoot, string name, Action<string>? warn = null)
    {
        var path = Path.Combine(ModelBackup.ModelDirectory(repositoryRoot, name), FileName);
        return File.Exists(path)
            ? RunJournal.ReadLines(path, DeploymentJson.Default.ModelDeployment, "deployment record", warn).OrderBy(d => d.Time).ToList()
            : [];
    }

    /// <summary>
    /// The version deployed at <paramref name="pointInTime"/>: the last deployment record at or before it; without one
    /// (no history yet), the newest version backed up at or before the point. When that version is no longer held
    /// (retention removed it), the answer says so instead of falling back to another version: a platform restore that
    /// silently brought a different model than the one that ran would be worse than one that stops.
    /// </summary>
    /// <param name="warn">Told of every line of the history that could not be read: the answer may then rest on an older record.</param>
    public static ModelAtPoint DeployedAt(string repositoryRoot, string name, DateTime pointInTime, Action<string>? warn = null)
    {
        var versions = ModelBackup.Versions(repositoryRoot, name);
        if (Read(repositoryRoot, name, warn).LastOrDefault(d => d.Time <= pointInTime) is { } d)
            return versions.FirstOrDefault(v => Matches(v, d)) is { } kept
                ? new ModelAtPoint(kept, d.Time, d.How == "restore" ? "restored into the model's path" : "deployed (seen there by a backup)", null)
                : new ModelAtPoint(null, d.Time, "deployed", $"version {d.Version}, deployed from {d.Time:u}, is no longer held (retention removed it)");
        return versions.FirstOrDefault(v => v.Created <= pointInTime) is { } newest
            ? new ModelAtPoint(newest, newest.Created, Fallback, null)
            : new ModelAtPoint(null, null, "", $"no version of model {name} was backed up by {pointInTime:u}");
    }

    /// <summary>
    /// The first point <see cref="DeployedAt"/> can answer with a version still held, or null when even the newest record
    /// names one that is gone: after the last record naming a removed version, or from the oldest version held.
    /// </summary>
    public static DateTime? WindowStart(string repositoryRoot, string name)
    {
        var versions = ModelBackup.Versions(repositoryRoot, name);
        if (versions.Count == 0) return null;
        var records = Read(repositoryRoot, name);
        var lastGone = records.Select((d, i) => (d, i)).LastOrDefault(x => !versions.Any(v => Matches(v, x.d)));
        // Every record names a held version (each recorded after its version was backed up): from the oldest version,
        // since before the first record the newest version backed up by then answers.
        if (lastGone.d is null) return versions.Min(v => v.Created);
        return lastGone.i + 1 < records.Count ? records[lastGone.i + 1].Time : null;
    }

    private static bool Matches(ModelManifest version, ModelDeployment record) =>
        version.Version == record.Version && (record.Hash is null || record.Hash == version.ManifestHash);
}

/// <summary>The model version a point in time gets, since when it was deployed and how that is known; or why there is none.</summary>
public sealed record ModelAtPoint(ModelManifest? Manifest, DateTime? Since, string How, string? Problem);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ModelDeployment))]
internal sealed partial class DeploymentJson : JsonSerializerContext;
