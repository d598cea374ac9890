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
/// <param name="DisconnectedSince">Since when the stream has not been receiving (its tool stopped: the server down, a network cut, a refused login); null while it is.</param>
/// <param name="LastError">What the tool said last on stderr, or why it could not start.</param>
public sealed record BinlogStreamState(string Host, int ProcessId, DateTime Updated, string File, long Bytes, string? ServerFile, long? ServerBytes, DateTime LastInSync,
    DateTime? DisconnectedSince = null, string? LastError = null)
{
    public const string FileName = "state.json";
    public static readonly TimeSpan DeadAfter = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultMaxLag = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultMaxGap = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Replaces the state atomically (a temporary name renamed over it), without an fsync: it is rewritten every second
    /// and only reports; after a power loss an old, empty or missing state reads as no state, and the next second
    /// writes it again. (An fsync a second was a measurable part of the stream's CPU.)
    /// </summary>
    public void Write(string directory)
    {
        var temp = Path.Combine(directory, $".{FileName}.{Guid.NewGuid():N}");
        System.IO.File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, StreamJson.Default.BinlogStreamState));
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

    /// <summary>
    /// The status of each target with a stream state, or with <c>stream:</c> in the policy: Dead (Critical) when not
    /// refreshed for a minute; Disconnected (Warning) when not receiving for longer than stream.maxGap; Behind
    /// (Warning) past stream.maxLag; Stopped (Warning) when the policy asks for a stream and none runs.
    /// </summary>
    public static IReadOnlyList<StreamStatus> Statuses(BackupPolicy policy, DateTime asOf)
    {
        var list = new List<StreamStatus>();
        foreach (var target in policy.Targets.Where(t => t.Engine == TargetEngine.MariaDb))
        {
            if (Read(BinlogStream.DirectoryFor(policy.Repository, target.Name)) is not { } s)
            {
                if (target.Stream)
                    list.Add(new StreamStatus
                    {
                        Target = target.Name, State = "Stopped", Severity = AlertSeverity.Warning, AsOf = asOf, PolicyPath = policy.Path,
                        Message = $"The policy streams {target.Name}'s binary logs (stream:), but no stream runs: transactions since the last archived binary log " +
                                  $"would be lost with the host. Start its service (Register-BackupSchedule installs backuptools-stream@{target.Name}.service) or Start-BinlogStream -Target {target.Name}.",
                    });
                continue;
            }
            var lag = asOf > s.LastInSync ? asOf - s.LastInSync : TimeSpan.Zero;
            var behind = s.ServerFile == s.File && s.ServerBytes is { } sb ? Math.Max(0, sb - s.Bytes) : 0;
            var maxGap = target.StreamMaxGap ?? DefaultMaxGap;
            var (state, severity, message) =
                asOf - s.Updated > DeadAfter ? ("Dead", AlertSeverity.Critical, $"The binary-log stream of {target.Name} (host {s.Host}, process {s.ProcessId}) has not reported since {s.Updated:u}: it died or its host is down. Start it again (Start-BinlogStream, or its service); the scheduled archiving still runs.")
                : s.DisconnectedSince is { } since && asOf - since > maxGap ? ("Disconnected", AlertSeverity.Warning,
                    $"The binary-log stream of {target.Name} has not been receiving since {since:u} ({(asOf - since).TotalSeconds:0} s; stream.maxGap {maxGap.TotalSeconds:0} s) and keeps retrying" +
                    (s.LastError is { } e ? $"; mariadb-binlog said: {e}" : "") + ". Check that the server runs and the login has REPLICATION SLAVE; the scheduled archiving still runs.")
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
