using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Alerts;

/// <summary>An alert that was sent and has not cleared: when, how loud, to which channels.</summary>
public sealed record ActiveAlert(string Key, string Subject, string Severity, DateTime FirstSent, DateTime LastSent, IReadOnlyList<string> Channels);

/// <summary>
/// The alerts that are active, kept in <c>&lt;repository&gt;/_alerts/state.json</c> (written to a temporary file and renamed),
/// so deduplication and "resolved" messages work across scheduled runs and hosts that share the repository.
/// </summary>
public sealed class AlertStateStore
{
    private readonly string _path;
    private readonly Dictionary<string, ActiveAlert> _active;

    private AlertStateStore(string path, Dictionary<string, ActiveAlert> active)
    {
        _path = path;
        _active = active;
    }

    public static AlertStateStore Open(string repositoryRoot)
    {
        var path = Path.Combine(repositoryRoot, "_alerts", "state.json");
        var active = File.Exists(path)
            ? JsonSerializer.Deserialize(File.ReadAllBytes(path), AlertJson.Default.ListActiveAlert)!.ToDictionary(a => a.Key)
            : new Dictionary<string, ActiveAlert>();
        return new AlertStateStore(path, active);
    }

    public ActiveAlert? Get(string key) => _active.GetValueOrDefault(key);

    /// <summary>Active alerts about a subject (any state), for all-clears.</summary>
    public IReadOnlyList<ActiveAlert> ForSubject(string subject) => _active.Values.Where(a => a.Subject == subject).ToList();

    public void Set(ActiveAlert alert) => _active[alert.Key] = alert;

    public void Remove(string key) => _active.Remove(key);

    public void Save()
    {
        var directory = Path.GetDirectoryName(_path)!;
        FileModes.CreatePrivateDirectory(directory);
        var temp = _path + ".tmp";
        File.Delete(temp);
        FileModes.WriteDurably(temp, JsonSerializer.SerializeToUtf8Bytes(_active.Values.OrderBy(a => a.Key).ToList(), AlertJson.Default.ListActiveAlert));
        File.Move(temp, _path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(List<ActiveAlert>))]
[JsonSerializable(typeof(AlertPayload))]
internal sealed partial class AlertJson : JsonSerializerContext;

/// <summary>The JSON a webhook channel receives.</summary>
public sealed record AlertPayload(string Key, string Severity, string Title, string Text, DateTime Since, string Host, bool Resolved);
