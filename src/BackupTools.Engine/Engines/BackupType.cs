namespace BackupTools.Engine.Engines;

/// <summary>
/// The kinds of backup set. On disk and in records they are the lower-case names (full, incremental, binlog, snapshot,
/// model), which are the repository's directory names: <see cref="BackupTypes.Name"/> and <see cref="BackupTypes.Parse"/>
/// are the one place that maps them.
/// </summary>
public enum BackupType { Full, Incremental, Binlog, Snapshot, Model }

public static class BackupTypes
{
    public static string Name(this BackupType type) => type.ToString().ToLowerInvariant();

    public static BackupType Parse(string name) => TryParse(name) ?? throw new ArgumentException(
        $"'{name}' is not a backup type; use one of {string.Join(", ", Enum.GetValues<BackupType>().Select(Name))}.", nameof(name));

    public static BackupType? TryParse(string? name) =>
        Enum.TryParse<BackupType>(name, ignoreCase: true, out var t) && Enum.IsDefined(t) && !int.TryParse(name, out _) ? t : null;
}

/// <summary>What the run journal says of an attempt (its "status" field).</summary>
public enum JournalStatus { Succeeded, Failed, Cancelled, Skipped, Deleted }
