using System.Globalization;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// -Replace: puts a restored directory in place of the target's data directory by two renames, keeping the old one
/// as <c>&lt;dataDir&gt;.before-restore-&lt;UTC&gt;</c> so the swap can be undone, and only while the server is stopped.
/// </summary>
public static class DataDirectorySwap
{
    public static async Task EnsureServerStoppedAsync(TargetPolicy target, string? password, CancellationToken ct)
    {
        foreach (var pidFile in Directory.Exists(target.DataDir) ? Directory.GetFiles(target.DataDir!, "*.pid") : [])
            if (int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Directory.Exists($"/proc/{pid}"))
                throw new RestoreReplaceException(
                    $"Target '{target.Name}': the server still runs (process {pid}, from {pidFile}). Stop it first (e.g. systemctl stop mariadb), then run the restore with -Replace again.");
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

    /// <returns>Where the old data directory was kept.</returns>
    public static string Swap(string restored, string dataDirectory, DateTime nowUtc)
    {
        var kept = $"{dataDirectory.TrimEnd('/')}.before-restore-{nowUtc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}";
        if (Directory.Exists(dataDirectory)) Directory.Move(dataDirectory, kept);
        try
        {
            Directory.Move(restored, dataDirectory);
        }
        catch (IOException e)
        {
            if (Directory.Exists(kept)) Directory.Move(kept, dataDirectory); // undo: the live directory is as it was
            throw new RestoreReplaceException(
                $"Could not move '{restored}' to '{dataDirectory}' ({e.Message}); the data directory was left as it was. " +
                "The destination must be on the same file system as the data directory, so that the swap is a rename.");
        }
        return kept;
    }
}
