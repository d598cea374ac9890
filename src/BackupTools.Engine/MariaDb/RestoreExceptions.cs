using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>The point asked for is outside what the catalog can restore; the message states the window.</summary>
public sealed class RestoreWindowException(string message) : Exception(message);

/// <summary>A piece the restore needs is missing or damaged (a binlog file, a chain link, a file's checksum).</summary>
public sealed class RestoreChainException(string message) : Exception(message);

/// <summary>A restore step failed; the message names the step, and the live data directory was not touched.</summary>
public sealed class RestoreStepException(string step, Exception inner) : Exception($"Restore failed at step '{step}': {inner.Message}", inner)
{
    public string Step { get; } = step;
}

/// <summary>-Replace was asked while the target's server still runs, or the swap cannot be done safely.</summary>
public sealed class RestoreReplaceException(string message) : Exception(message);

internal static class RestoreText
{
    public static string Time(DateTime utc) => BackupRecords.FormatTime(utc);

    public static string Window(string target, DateTime from, DateTime to) =>
        $"Target '{target}' can be restored between {Time(from)} and {Time(to)}";

    /// <summary>Reads the manifest entry of a set on disk (a plan from the pipeline carries only paths).</summary>
    public static CatalogEntry? EntryAt(string path)
    {
        var manifest = Path.Combine(path, BackupManifest.FileName);
        if (!File.Exists(manifest)) return null;
        var m = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(manifest), RepositoryJson.Default.BackupManifest);
        return m is null ? null : new CatalogEntry(m, path);
    }
}
