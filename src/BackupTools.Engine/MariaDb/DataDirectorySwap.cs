using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// -Replace: puts a restored directory in place of the target's data directory, keeping the old one as
/// <c>&lt;dataDir&gt;.before-restore-&lt;UTC&gt;</c> so the swap can be undone, and only while the server is stopped.
/// <para>
/// The server is checked at the start and again right before the swap (pid file, socket, TCP port, any process with a
/// file open in the data directory): the restore takes minutes, and somebody may start the server meanwhile. The swap
/// is one atomic renameat2(RENAME_EXCHANGE) where the file system supports it (else two no-replace renames), with an
/// intent file written first, so a crash at any point is finished or undone by <see cref="RecoverInterrupted"/> on
/// the next run; a marker file in the restored directory tells which side of the exchange the crash hit.
/// </para>
/// </summary>
public static partial class DataDirectorySwap
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^\.backuptools-swap-[0-9a-f]{32}$")]
    private static partial System.Text.RegularExpressions.Regex MarkerName();

    private const string IntentFile = "swap-intent.json";

    /// <summary>Tests only: called at "intent-written" and "exchanged"; a throw there stands for a crash at that point.</summary>
    internal static Action<string>? CrashPoint;

    public static async Task EnsureServerStoppedAsync(TargetPolicy target, string? password, CancellationToken ct)
    {
        foreach (var pidFile in Directory.Exists(target.DataDir) ? Directory.GetFiles(target.DataDir!, "*.pid") : [])
            if (int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Directory.Exists($"/proc/{pid}"))
                throw new RestoreReplaceException(
                    $"Target '{target.Name}': the server still runs (process {pid}, from {pidFile}). Stop it first (e.g. systemctl stop mariadb), then run the restore with -Replace again.");
        if (target.DataDir is not null) RefuseSymlink(Path.GetFullPath(target.DataDir).TrimEnd('/'), target.Name);
        if (target.DataDir is not null && ProcessesUsing(target.DataDir) is [var holder, ..])
            throw new RestoreReplaceException(
                $"Target '{target.Name}': the server still runs, or another program uses its data: process {holder.Pid} ({holder.Name}) has files open in {target.DataDir}. " +
                "Stop it first (e.g. systemctl stop mariadb), then run the restore with -Replace again.");
        if (target.Host is not null && target.Port is { } port && await ListensAsync(target.Host, port, ct))
            throw new RestoreReplaceException(
                $"Target '{target.Name}': something listens on {target.Host}:{port}, so the server still runs. Stop it first, then run the restore with -Replace again.");
        if (target.Socket is not null && !File.Exists(target.Socket) && target.Host is null) return; // no socket: nothing listens
        await using var connection = MariaDbConnections.Create(target, password, TimeSpan.FromSeconds(3));
        try
        {
            await connection.OpenAsync(ct);
        }
        catch (MySqlException e) when (e.ErrorCode is MySqlErrorCode.UnableToConnectToHost)
        {
            return; // nothing listens: stopped
        }
        catch (MySqlException e)
        {
            throw new RestoreReplaceException(
                $"Target '{target.Name}': a server answers at {target.Endpoint} ({e.Message}), so it still runs. Stop it first, then run the restore with -Replace again.");
        }
        throw new RestoreReplaceException(
            $"Target '{target.Name}': the server at {target.Endpoint} still runs. Stop it first (e.g. systemctl stop mariadb), then run the restore with -Replace again.");
    }

    private static async Task<bool> ListensAsync(string host, int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            await client.ConnectAsync(host, port, timeout.Token);
            return true;
        }
        catch (SocketException) { return false; }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
    }

    /// <summary>Processes with a file or directory open under <paramref name="directory"/> (read from /proc; ours excluded).</summary>
    public static IReadOnlyList<(int Pid, string Name)> ProcessesUsing(string directory)
    {
        if (!Directory.Exists("/proc/self/fd")) return [];
        var root = Path.GetFullPath(directory).TrimEnd('/');
        var found = new List<(int, string)>();
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(proc, "fd")))
                {
                    var link = new FileInfo(fd).LinkTarget;
                    if (link is not null && (link == root || link.StartsWith(root + "/", StringComparison.Ordinal)))
                    {
                        found.Add((pid, File.ReadAllText(Path.Combine(proc, "comm")).Trim()));
                        break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // gone, or not ours to read
        }
        return found;
    }

    /// <summary>What a swap in progress records, so a crash can be finished or undone.</summary>
    private sealed record Intent(string DataDirectory, string Restored, string Kept, string Marker, DateTime ReplacedAt, DateTime PointInTime, string? ReachedGtid);

    private static string IntentPath(string repositoryRoot, string target) => Path.Combine(ReplaceMarkers.Path(repositoryRoot, target), IntentFile);

    /// <summary>Swaps <paramref name="restored"/> in for the data directory; records the -Replace for the binlog timelines.</summary>
    /// <returns>Where the old data directory was kept.</returns>
    public static string Swap(string repositoryRoot, string target, string restored, string dataDirectory, DateTime nowUtc, DateTime pointInTime,
        string? reachedGtid, Action<string>? log)
    {
        dataDirectory = Path.GetFullPath(dataDirectory).TrimEnd('/');
        restored = Path.GetFullPath(restored).TrimEnd('/');
        RefuseSymlink(dataDirectory, target);
        // Recovery (run by any backup or restore of the target) must never act on a swap that is still going on.
        using var swapping = new SyncRelease(TargetLock.Acquire(repositoryRoot, MariaDbCatalog.Engine, target, log, scope: SwapScope));
        var kept = $"{dataDirectory}.before-restore-{Stamps.Compact(nowUtc)}";
        var marker = $".backuptools-swap-{Guid.NewGuid():N}";
        FileModes.WriteDurably(Path.Combine(restored, marker), []);
        var intent = new Intent(dataDirectory, restored, kept, marker, nowUtc, pointInTime, reachedGtid);
        FileModes.CreatePrivateDirectory(ReplaceMarkers.Path(repositoryRoot, target));
        FileModes.WriteDurably(IntentPath(repositoryRoot, target), JsonSerializer.SerializeToUtf8Bytes(intent), FileMode.Create);
        CrashPoint?.Invoke("intent-written");
        try
        {
            if (!Directory.Exists(dataDirectory))
                Move(restored, dataDirectory);
            else if (SafeDirectory.Supported && SafeDirectory.TryExchange(restored, dataDirectory))
            {
                // From here the swap has happened: the live path holds the restored data, the old data is at the
                // restored path. Nothing below may report "left as it was" or let a caller delete the restored path.
                CrashPoint?.Invoke("exchanged");
                try { Move(restored, kept); }
                catch (IOException e)
                {
                    log?.Invoke($"The old data directory stays at '{restored}': it could not be renamed to '{kept}' ({e.Message}).");
                    kept = restored;
                }
            }
            else
            {
                Move(dataDirectory, kept);
                try { Move(restored, dataDirectory); }
                catch (IOException e)
                {
                    try { Move(kept, dataDirectory); } // undo: the live directory is as it was
                    catch (IOException undo)
                    {
                        throw new RestoreReplaceException(
                            $"Could not swap '{restored}' in for '{dataDirectory}' ({e.Message}), nor move the old data directory back ({undo.Message}). " +
                            $"There is NO data directory at '{dataDirectory}' now: the old one is at '{kept}', the restored one at '{restored}'. " +
                            $"Rename one of them to '{dataDirectory}' by hand before starting the server.");
                    }
                    throw;
                }
            }
        }
        catch (IOException e)
        {
            File.Delete(IntentPath(repositoryRoot, target));
            TryDeleteMarker(restored, marker);
            throw new RestoreReplaceException(
                $"Could not swap '{restored}' in for '{dataDirectory}' ({e.Message}); the data directory was left as it was and the restored one is at '{restored}'. " +
                "The destination must be on the same file system as the data directory, so that the swap is a rename.");
        }
        Finish(repositoryRoot, target, intent with { Kept = kept }, log);
        return kept;
    }

    /// <summary>Releases a lock at the end of a synchronous block.</summary>
    private sealed class SyncRelease(TargetLock held) : IDisposable
    {
        public void Dispose() => held.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Lock scope a swap holds, so recovery never mistakes a swap in progress for an interrupted one.</summary>
    private const string SwapScope = "swap";

    /// <summary>A data directory that is a symlink would be swapped as a link (and checked for open files under the wrong path): refuse.</summary>
    private static void RefuseSymlink(string dataDirectory, string target)
    {
        if (new DirectoryInfo(dataDirectory) is { Exists: true, LinkTarget: { } link })
            throw new RestoreReplaceException(
                $"Target '{target}': the data directory '{dataDirectory}' is a symlink to '{link}'. Set dataDir in the policy to the real directory, then run the restore with -Replace again.");
    }

    private static void Move(string from, string to)
    {
        if (SafeDirectory.Supported) SafeDirectory.MoveNoReplace(from, to);
        else Directory.Move(from, to);
    }

    /// <summary>After the data directory holds the restored data: record the -Replace, drop the marker and the intent.</summary>
    private static void Finish(string repositoryRoot, string target, Intent intent, Action<string>? log)
    {
        // In this order: a crash at any point leaves an intent that recovery finishes again (the marker file is what
        // tells it the exchange happened, so it goes last), and writing the -Replace record twice is harmless.
        ReplaceMarkers.Write(repositoryRoot, target, intent.ReplacedAt, intent.DataDirectory, intent.PointInTime, intent.ReachedGtid);
        File.Delete(IntentPath(repositoryRoot, target));
        TryDeleteMarker(intent.DataDirectory, intent.Marker);
        log?.Invoke($"Swapped the restored data into {intent.DataDirectory}; the old data directory is at {intent.Kept}.");
    }

    private static void TryDeleteMarker(string directory, string marker)
    {
        try { File.Delete(Path.Combine(directory, marker)); }
        catch (IOException) { }
    }

    /// <summary>
    /// Finishes or undoes a -Replace swap that a crash interrupted (an intent file is left): if the data directory holds
    /// the restored data, the old one gets its kept name and the -Replace is recorded; if the swap never happened, the
    /// live directory is untouched and the restored one is left where it was. Returns what was done, or null.
    /// </summary>
    public static string? RecoverInterrupted(string repositoryRoot, string target, Action<string>? log, string? expectedDataDirectory = null)
    {
        var path = IntentPath(repositoryRoot, target);
        if (!File.Exists(path)) return null;
        TargetLock swapping;
        try { swapping = TargetLock.Acquire(repositoryRoot, MariaDbCatalog.Engine, target, log, scope: SwapScope); }
        catch (TargetLockedException) { return null; } // a swap is going on right now: not interrupted
        using var held = new SyncRelease(swapping);
        if (!File.Exists(path)) return null;
        Intent intent;
        try { intent = JsonSerializer.Deserialize<Intent>(File.ReadAllBytes(path)) ?? throw new JsonException("empty"); }
        catch (JsonException e)
        {
            throw new RestoreReplaceException($"'{path}' records an interrupted -Replace swap but cannot be read ({e.Message}). Check '{Path.GetDirectoryName(path)}' by hand, then delete the file.");
        }
        if (!MarkerName().IsMatch(intent.Marker)
            || expectedDataDirectory is not null && Path.GetFullPath(expectedDataDirectory).TrimEnd('/') != intent.DataDirectory
            || !Path.IsPathFullyQualified(intent.Restored) || intent.Kept != intent.Restored && !intent.Kept.StartsWith(intent.DataDirectory + ".before-restore-", StringComparison.Ordinal))
            throw new RestoreReplaceException(
                $"'{path}' records an interrupted -Replace swap that does not fit this target (data directory '{intent.DataDirectory}'); nothing was done. " +
                "Check the data directory by hand, then delete the file.");
        string done;
        if (File.Exists(Path.Combine(intent.DataDirectory, intent.Marker)))
        {
            if (Directory.Exists(intent.Restored) && !Directory.Exists(intent.Kept)) Move(intent.Restored, intent.Kept);
            done = $"Finished a -Replace swap that was interrupted: {intent.DataDirectory} holds the data restored to {RestoreText.Time(intent.PointInTime)}; the old data directory is at {intent.Kept}.";
        }
        else if (!Directory.Exists(intent.DataDirectory) && File.Exists(Path.Combine(intent.Restored, intent.Marker)))
        {
            Move(intent.Restored, intent.DataDirectory);
            done = $"Finished a -Replace swap that was interrupted between its two renames: {intent.DataDirectory} holds the restored data; the old one is at {intent.Kept}.";
        }
        else if (Directory.Exists(intent.Kept))
            throw new RestoreReplaceException(
                $"A -Replace swap of {intent.DataDirectory} was interrupted and cannot be finished safely: the old data directory is at '{intent.Kept}', " +
                $"the restored one at '{intent.Restored}', and '{intent.DataDirectory}' holds neither. Stop the server, put the right one in place by hand, then delete '{path}'.");
        else
        {
            TryDeleteMarker(intent.Restored, intent.Marker);
            File.Delete(path);
            done = $"A -Replace swap was interrupted before it began: {intent.DataDirectory} was not touched; the restored data is at {intent.Restored}.";
            log?.Invoke(done);
            return done;
        }
        Finish(repositoryRoot, target, intent, log);
        log?.Invoke(done);
        return done;
    }
}
