using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>One line of an offsite journal: a set (or model version) that arrived, or a copy run's outcome.</summary>
public sealed record OffsiteJournalEntry(DateTime At, string? Set = null, long Bytes = 0, bool? RunSucceeded = null, string? Error = null);

[JsonSerializable(typeof(OffsiteJournalEntry))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class OffsiteJournalJson : JsonSerializerContext;

/// <summary>
/// What this host copied to an offsite repository (&lt;repository&gt;/_offsite/&lt;name&gt;/journal.jsonl, appended one
/// line at a time): status reads it to say what is not there yet without asking the store. It is this host's view; the
/// restore drill from offsite (Test-DbBackup -Restore -Offsite) is what proves the copies.
/// </summary>
public static class OffsiteJournal
{
    public static string PathFor(string repositoryRoot, string offsiteName) => Path.Combine(repositoryRoot, "_offsite", offsiteName, "journal.jsonl");

    public static void Append(string repositoryRoot, string offsiteName, OffsiteJournalEntry entry)
    {
        var path = PathFor(repositoryRoot, offsiteName);
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
        var line = JsonSerializer.Serialize(entry, OffsiteJournalJson.Default.OffsiteJournalEntry) + "\n";
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(Encoding.UTF8.GetBytes(line)); // one write of one line: appends from two copies never interleave within a line
        stream.Flush(flushToDisk: true);
    }

    public static IReadOnlyList<OffsiteJournalEntry> Read(string repositoryRoot, string offsiteName)
    {
        var path = PathFor(repositoryRoot, offsiteName);
        if (!File.Exists(path)) return [];
        var entries = new List<OffsiteJournalEntry>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0) continue;
            try { if (JsonSerializer.Deserialize(line, OffsiteJournalJson.Default.OffsiteJournalEntry) is { } e) entries.Add(e); }
            catch (JsonException) { } // a line cut by a crash: the set it names is copied again (it is checked there first)
        }
        return entries;
    }
}
