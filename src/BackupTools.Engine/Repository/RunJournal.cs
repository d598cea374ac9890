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
/// <para>
/// Readers never block writers and writers never block readers: writers take an exclusive lock on <c>_journal/.lock</c>
/// (waiting for each other a few milliseconds, never failing on a reader), then append one whole line and fsync;
/// readers open the month files shared and take no lock. .NET's FileMode.Append is a seek to the end, not O_APPEND, so
/// the writers' lock is what keeps two appends from landing on the same offset.
/// </para>
/// </summary>
public static class RunJournal
{
    public const string DirectoryName = "_journal";
    private const string LockName = ".lock";
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    public static void Append(string repositoryRoot, JournalEntry entry)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        FileModes.CreatePrivateDirectory(dir);
        var path = Path.Combine(dir, $"{entry.Time:yyyy-MM}.jsonl");
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(entry, RepositoryJson.Compact.JournalEntry) + "\n");
        using var writers = AcquireWriterLock(Path.Combine(dir, LockName));
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileModes.PrivateFile;
        using var stream = new FileStream(path, options);
        var end = stream.Length;
        try
        {
            stream.Seek(end, SeekOrigin.Begin);
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException)
        {
            // A full disk can leave part of the line: cut it off again, so the next entry starts on a line of its own.
            try { stream.SetLength(end); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The writers' lock: exclusive among writers only (readers never take it); waits, then fails saying who holds it.</summary>
    private static FileStream AcquireWriterLock(string path)
    {
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileModes.PrivateFile;
                return new FileStream(path, options);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(Random.Shared.Next(5, 25));
            }
        }
    }

    /// <summary>Reads every entry, oldest first. A torn line (a crash or a full disk mid-write) is skipped, and <paramref name="warn"/> told.</summary>
    public static IReadOnlyList<JournalEntry> Read(string repositoryRoot, Action<string>? warn = null)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (!Directory.Exists(dir)) return [];
        var entries = new List<JournalEntry>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.jsonl").Order(StringComparer.Ordinal))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var number = 0;
            while (reader.ReadLine() is { } line)
            {
                number++;
                if (line.Length == 0) continue;
                try
                {
                    if (JsonSerializer.Deserialize(line, RepositoryJson.Compact.JournalEntry) is { } e) entries.Add(e);
                }
                catch (JsonException)
                {
                    warn?.Invoke($"Skipped line {number} of '{file}': not a whole journal entry (a crash or a full disk while it was written).");
                }
            }
        }
        return entries;
    }
}
