using System.Text;
using System.Text.Json;

namespace BackupTools.Engine.Repository;

/// <summary>One attempt at a backup (or other repository job), kept whether it worked or not.</summary>
public sealed record JournalEntry
{
    public required DateTime Time { get; init; }
    public required string Engine { get; init; }
    public required string Target { get; init; }
    public required string Type { get; init; }
    public required string Status { get; init; }
    public string? Id { get; init; }
    public double DurationSeconds { get; init; }
    public long StoredBytes { get; init; }
    public string? Error { get; init; }
    public string? Host { get; init; }
    public int ProcessId { get; init; }
}

/// <summary>
/// Append-only log of every run under <c>_journal/</c>, one JSON line per attempt, one file per month.
/// Status and alerts read it, because a failed run leaves no backup set to find.
/// </summary>
public static class RunJournal
{
    public const string DirectoryName = "_journal";

    public static void Append(string repositoryRoot, JournalEntry entry)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        FileModes.CreatePrivateDirectory(dir);
        var path = Path.Combine(dir, $"{entry.Time:yyyy-MM}.jsonl");
        var line = JsonSerializer.Serialize(entry, RepositoryJson.Compact.JournalEntry) + "\n";
        // One write of one line with O_APPEND: concurrent runs of different targets interleave whole lines.
        FileModes.WriteDurably(path, Encoding.UTF8.GetBytes(line), FileMode.Append);
    }

    /// <summary>Reads every entry, oldest first; a torn last line (crash mid-write) is skipped.</summary>
    public static IReadOnlyList<JournalEntry> Read(string repositoryRoot)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (!Directory.Exists(dir)) return [];
        var entries = new List<JournalEntry>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.jsonl").Order(StringComparer.Ordinal))
        foreach (var line in File.ReadLines(file))
        {
            if (line.Length == 0) continue;
            try
            {
                if (JsonSerializer.Deserialize(line, RepositoryJson.Compact.JournalEntry) is { } e) entries.Add(e);
            }
            catch (JsonException) { }
        }
        return entries;
    }
}
