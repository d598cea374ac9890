using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Processes;

namespace BackupTools.Engine.Config;

/// <summary>What Git does not keep of a file: its mode, owner and group (numeric ids and names).</summary>
public sealed record FileMetadata(string Mode, int Uid, int Gid, string Owner, string Group);

/// <summary>
/// The metadata of every file in the history, in one JSON file in the repository (<c>.backuptools/metadata.json</c>),
/// committed with the files, so a commit restores content, mode and owner together (as etckeeper's .etckeeper does).
/// </summary>
public static class FileMetadataStore
{
    public const string RelativePath = ".backuptools/metadata.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static SortedDictionary<string, FileMetadata> Read(string workTree)
    {
        var path = Path.Combine(workTree, RelativePath);
        if (!File.Exists(path)) return new(StringComparer.Ordinal);
        return Parse(File.ReadAllText(path));
    }

    public static SortedDictionary<string, FileMetadata> Parse(string json) =>
        new(JsonSerializer.Deserialize<Dictionary<string, FileMetadata>>(json, Json) ?? [], StringComparer.Ordinal);

    public static void Write(string workTree, SortedDictionary<string, FileMetadata> entries)
    {
        var path = Path.Combine(workTree, RelativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(entries, Json) + "\n");
    }

    /// <summary>Mode, owner and group of many files with one `stat` per 200 files (no P/Invoke layouts to get wrong).</summary>
    public static async Task<Dictionary<string, FileMetadata>> StatAsync(IReadOnlyList<string> files, CancellationToken ct)
    {
        var result = new Dictionary<string, FileMetadata>(StringComparer.Ordinal);
        if (OperatingSystem.IsWindows())
        {
            foreach (var f in files) result[f] = new FileMetadata("644", 0, 0, "", "");
            return result;
        }
        foreach (var chunk in files.Chunk(200))
        {
            var text = await ProcessRunner.RunForTextAsync(new ProcessSpec("stat", ["-c", "%a|%u|%g|%U|%G|%n", "--", .. chunk]), ct);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var p = line.Split('|', 6);
                if (p.Length == 6)
                    result[p[5]] = new FileMetadata(p[0], int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture), p[3], p[4]);
            }
        }
        return result;
    }
}
