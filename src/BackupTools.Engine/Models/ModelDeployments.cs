using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>One moment a model version was known to be the one at the model's path: a backup read it there, or a restore put it there.</summary>
public sealed record ModelDeployment(DateTime Time, string Version, string How);

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
    public static void Record(string repositoryRoot, string name, string version, DateTime time, string how)
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
        if (last is not null && last.Version == version && how == "backup") return;
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new ModelDeployment(time.ToUniversalTime(), version, how), DeploymentJson.Default.ModelDeployment) + "\n");
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
    public static ModelAtPoint DeployedAt(string repositoryRoot, string name, DateTime pointInTime)
    {
        var versions = ModelBackup.Versions(repositoryRoot, name);
        if (Read(repositoryRoot, name).LastOrDefault(d => d.Time <= pointInTime) is { } d)
            return versions.FirstOrDefault(v => v.Version == d.Version) is { } kept
                ? new ModelAtPoint(kept, d.Time, d.How == "restore" ? "restored into the model's path" : "deployed (seen there by a backup)", null)
                : new ModelAtPoint(null, d.Time, "deployed", $"version {d.Version}, deployed from {d.Time:u}, is no longer held (retention removed it)");
        return versions.FirstOrDefault(v => v.Created <= pointInTime) is { } newest
            ? new ModelAtPoint(newest, newest.Created, Fallback, null)
            : new ModelAtPoint(null, null, "", $"no version of model {name} was backed up by {pointInTime:u}");
    }
}

/// <summary>The model version a point in time gets, since when it was deployed and how that is known; or why there is none.</summary>
public sealed record ModelAtPoint(ModelManifest? Manifest, DateTime? Since, string How, string? Problem);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ModelDeployment))]
internal sealed partial class DeploymentJson : JsonSerializerContext;
