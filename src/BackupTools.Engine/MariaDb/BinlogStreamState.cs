using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// What a running stream says of itself every second (&lt;repository&gt;/_stream/&lt;target&gt;/state.json, replaced
/// atomically): the file being received, its size, the server's position, and when the two last matched. A stream
/// stopped by the user removes it; one that died leaves it, and its age says so.
/// </summary>
public sealed record BinlogStreamState(string Host, int ProcessId, DateTime Updated, string File, long Bytes, string? ServerFile, long? ServerBytes, DateTime LastInSync)
{
    public const string FileName = "state.json";
    public static readonly TimeSpan DeadAfter = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultMaxLag = TimeSpan.FromSeconds(10);

    public void Write(string directory)
    {
        var temp = Path.Combine(directory, $".{FileName}.{Guid.NewGuid():N}");
        FileModes.WriteDurably(temp, JsonSerializer.SerializeToUtf8Bytes(this, StreamJson.Default.BinlogStreamState));
        System.IO.File.Move(temp, Path.Combine(directory, FileName), overwrite: true);
    }

    public static BinlogStreamState? Read(string directory)
    {
        try { return JsonSerializer.Deserialize(System.IO.File.ReadAllBytes(Path.Combine(directory, FileName)), StreamJson.Default.BinlogStreamState); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException) { return null; }
    }

    public static void Remove(string directory)
    {
        try { System.IO.File.Delete(Path.Combine(directory, FileName)); } catch (DirectoryNotFoundException) { }
    }

    /// <summary>The status of each target with a stream state: Dead (Critical) when not refreshed for a minute, Behind (Warning) past the lag limit.</summary>
    public static IReadOnlyList<StreamStatus> Statuses(BackupPolicy policy, DateTime asOf)
    {
        var list = new List<StreamStatus>();
        foreach (var target in policy.Targets.Where(t => t.Engine == TargetEngine.MariaDb))
        {
            if (Read(BinlogStream.DirectoryFor(policy.Repository, target.Name)) is not { } s) continue;
            var lag = asOf > s.LastInSync ? asOf - s.LastInSync : TimeSpan.Zero;
            var behind = s.ServerFile == s.File && s.ServerBytes is { } sb ? Math.Max(0, sb - s.Bytes) : 0;
            var (state, severity, message) =
                asOf - s.Updated > DeadAfter ? ("Dead", AlertSeverity.Critical, $"The binary-log stream of {target.Name} (host {s.Host}, process {s.ProcessId}) has not reported since {s.Updated:u}: it died or its host is down. Start it again (Start-BinlogStream, or its service); the scheduled archiving still runs.")
                : lag > (target.StreamMaxLag ?? DefaultMaxLag) ? ("Behind", AlertSeverity.Warning, $"The binary-log stream of {target.Name} is {lag.TotalSeconds:0} s behind the server ({behind} bytes of {s.ServerFile}; stream.maxLag {(target.StreamMaxLag ?? DefaultMaxLag).TotalSeconds:0} s).")
                : ("Running", AlertSeverity.None, (string?)null);
            list.Add(new StreamStatus
            {
                Target = target.Name, State = state, Severity = severity, Lag = lag, BytesBehind = behind, File = s.File, Updated = s.Updated,
                Message = message, AsOf = asOf, PolicyPath = policy.Path,
            });
        }
        return list;
    }
}

[JsonSerializable(typeof(BinlogStreamState))]
internal sealed partial class StreamJson : JsonSerializerContext;
