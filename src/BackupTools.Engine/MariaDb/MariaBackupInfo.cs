using System.Globalization;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// What mariabackup writes into its LSN directory: <c>xtrabackup_checkpoints</c> (LSN range) and <c>xtrabackup_info</c>
/// (versions, binary log coordinates). Newer MariaDB versions name them <c>mariadb_backup_*</c>; both are read.
/// </summary>
public sealed partial record MariaBackupInfo
{
    public static readonly string[] CheckpointFileNames = ["mariadb_backup_checkpoints", "xtrabackup_checkpoints"];
    public static readonly string[] InfoFileNames = ["mariadb_backup_info", "xtrabackup_info"];

    public string? BackupType { get; init; }
    public string? FromLsn { get; init; }
    public string? ToLsn { get; init; }
    public string? LastLsn { get; init; }
    public string? ToolVersion { get; init; }
    public string? ServerVersion { get; init; }
    public string? BinlogFile { get; init; }
    public long? BinlogPosition { get; init; }
    public string? Gtid { get; init; }

    // binlog_pos = filename 'mariadb-bin.000001', position '1241', GTID of the last change '0-1-5'
    [GeneratedRegex(@"filename '(?<file>[^']+)', position '(?<pos>\d+)'(, GTID of the last change '(?<gtid>[^']*)')?")]
    private static partial Regex BinlogPos();

    /// <summary>Reads the LSN directory; throws when mariabackup left no checkpoints file (the backup is not usable).</summary>
    public static MariaBackupInfo Read(string lsnDirectory)
    {
        var checkpoints = FindFile(lsnDirectory, CheckpointFileNames)
            ?? throw new InvalidDataException(
                $"mariabackup wrote no {string.Join(" or ", CheckpointFileNames)} into '{lsnDirectory}'; without the LSN range the backup cannot be continued or prepared.");
        var c = ParseKeyValues(File.ReadAllText(checkpoints));
        var info = FindFile(lsnDirectory, InfoFileNames) is { } i ? ParseKeyValues(File.ReadAllText(i)) : new Dictionary<string, string>();
        string? file = null, gtid = null;
        long? position = null;
        if (info.TryGetValue("binlog_pos", out var pos) && BinlogPos().Match(pos) is { Success: true } m)
        {
            file = m.Groups["file"].Value;
            position = long.Parse(m.Groups["pos"].Value, CultureInfo.InvariantCulture);
            gtid = m.Groups["gtid"].Success && m.Groups["gtid"].Value.Length > 0 ? m.Groups["gtid"].Value : null;
        }
        return new MariaBackupInfo
        {
            BackupType = c.GetValueOrDefault("backup_type"),
            FromLsn = c.GetValueOrDefault("from_lsn"),
            ToLsn = c.GetValueOrDefault("to_lsn"),
            LastLsn = c.GetValueOrDefault("last_lsn"),
            ToolVersion = info.GetValueOrDefault("tool_version"),
            ServerVersion = info.GetValueOrDefault("server_version"),
            BinlogFile = file, BinlogPosition = position, Gtid = gtid,
        };
    }

    /// <summary>The LSN files present in a directory, by whichever name this version wrote them.</summary>
    public static IEnumerable<string> LsnFiles(string directory) =>
        CheckpointFileNames.Concat(InfoFileNames).Select(n => Path.Combine(directory, n)).Where(File.Exists);

    private static string? FindFile(string directory, string[] names) =>
        names.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists);

    internal static Dictionary<string, string> ParseKeyValues(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            result[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        return result;
    }

    /// <summary>The facts a later incremental, prepare or restore needs, as manifest engine fields.</summary>
    public Dictionary<string, string> ToEngineFields()
    {
        var fields = new Dictionary<string, string>();
        void Add(string key, string? value) { if (value is not null) fields[key] = value; }
        Add(EngineFieldNames.BackupType, BackupType);
        Add(EngineFieldNames.FromLsn, FromLsn);
        Add(EngineFieldNames.ToLsn, ToLsn);
        Add(EngineFieldNames.LastLsn, LastLsn);
        Add(EngineFieldNames.BinlogFile, BinlogFile);
        Add(EngineFieldNames.BinlogPosition, BinlogPosition?.ToString(CultureInfo.InvariantCulture));
        Add(EngineFieldNames.Gtid, Gtid);
        return fields;
    }
}

/// <summary>Keys of <see cref="Repository.BackupManifest.EngineFields"/> for MariaDB sets, in one place.</summary>
public static class EngineFieldNames
{
    public const string BackupType = "backupType";
    public const string FromLsn = "fromLsn";
    public const string ToLsn = "toLsn";
    public const string LastLsn = "lastLsn";
    public const string BinlogFile = "binlogFile";
    public const string BinlogPosition = "binlogPosition";
    public const string Gtid = "gtid";
    /// <summary>The full backup at the root of an incremental's chain.</summary>
    public const string ChainRoot = "chainRoot";
    public const string StreamFile = "streamFile";
    public const string FirstEventTime = "firstEventTime";
    public const string LastEventTime = "lastEventTime";
    public const string EndPosition = "endPosition";
    public const string GtidListAtStart = "gtidListAtStart";
    public const string ServerId = "serverId";
    /// <summary>The server's @@log_bin_basename: with the server id, where a binlog file came from.</summary>
    public const string LogBasename = "logBasename";
    /// <summary>Binlog sets: the GTID state at the file's end (its Gtid_list updated with every GTID in it).</summary>
    public const string GtidStateAtEnd = "gtidStateAtEnd";
    /// <summary>Binlog sets: the next file named by the closing Rotate event.</summary>
    public const string RotatedTo = "rotatedTo";
    /// <summary>The binlog timeline a binlog set belongs to, or a backup started on (1, 2, …).</summary>
    public const string Timeline = "timeline";
    /// <summary>Full/incremental: when the binlog file of the backup's position was created, and its Gtid_list.</summary>
    public const string BinlogFileCreated = "binlogFileCreated";
    public const string BinlogFileGtidList = "binlogFileGtidList";
    /// <summary>Full backups: how many user tables the server had (a later full of none is suspicious).</summary>
    public const string UserTables = "userTables";
    /// <summary>
    /// Only on the in-memory entries of files the binlog stream holds but has not sealed (never in a stored manifest):
    /// how many bytes of the file are whole transactions, the part a restore may replay.
    /// </summary>
    public const string StreamedBytes = "streamedBytes";
}
