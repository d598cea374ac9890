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
/// Readers never block writers and writers never block readers: writers take an exclusive lock on <c>_journal/.writers</c>
/// (waiting for each other a few milliseconds, never failing on a reader), then append one whole line and fsync;
/// readers open the month files shared and take no lock. .NET's FileMode.Append is a seek to the end, not O_APPEND, so
/// the writers' lock is what keeps two appends from landing on the same offset.
/// </para>
/// </summary>
public static class RunJournal
{
    public const string DirectoryName = "_journal";
    private const string LockName = ".writers";
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    public static void Append(string repositoryRoot, JournalEntry entry)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        AppendLine(dir, $"{entry.Time:yyyy-MM}.jsonl", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(entry, RepositoryJson.Compact.JournalEntry) + "\n"));
    }

    /// <summary>Appends one whole line (ending in a newline) to <paramref name="fileName"/> in <paramref name="dir"/>, under the writers' lock there, fsynced.</summary>
    public static void AppendLine(string dir, string fileName, byte[] line)
    {
        FileModes.CreatePrivateDirectory(dir);
        var path = Path.Combine(dir, fileName);
        using var writers = AcquireWriterLock(Path.Combine(dir, LockName));
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileModes.PrivateFile;
        using var stream = new FileStream(path, options);
        var end = stream.Length;
        try
        {
            stream.Seek(end, SeekOrigin.Begin);
            if (end > 0 && !EndsWithNewline(stream, end))
                stream.WriteByte((byte)'\n'); // a line torn by a crash stays alone on its line, skipped by readers
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

    private static bool EndsWithNewline(FileStream stream, long end)
    {
        Span<byte> last = stackalloc byte[1];
        return RandomAccess.Read(stream.SafeFileHandle, last, end - 1) == 1 && last[0] == (byte)'\n';
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

    /// <summary>
    /// Reads every entry, oldest first. A last line without its newline is being written (or was cut by a crash; the
    /// next append ends it) and is left for later; a whole line that is not an entry is skipped, and
    /// <paramref name="warn"/> told.
    /// </summary>
    public static IReadOnlyList<JournalEntry> Read(string repositoryRoot, Action<string>? warn = null)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (!Directory.Exists(dir)) return [];
        var entries = new List<JournalEntry>();
        // A month at a time, each through its binary copy while the month file is unchanged (see JournalCache).
        var files = Directory.EnumerateFiles(dir, "*.jsonl").Order(StringComparer.Ordinal).ToList();
        var months = new List<JournalEntry>[files.Count];
        var warnings = new List<string>[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            var said = warnings[i] = [];
            months[i] = JournalCache.Read(repositoryRoot, files[i], () =>
            {
                var parsed = new List<string>();
                return (ReadLines(files[i], RepositoryJson.Compact.JournalEntry, "journal entry", parsed.Add), parsed);
            }, said.Add);
        });
        for (var i = 0; i < files.Count; i++)
        {
            foreach (var w in warnings[i]) warn?.Invoke(w);
            entries.AddRange(months[i]);
        }
        return entries;
    }

    /// <summary>
    /// The whole lines of a JSON-lines file written by <see cref="AppendLine"/>, oldest first; a torn last line is left for
    /// later, a whole line that does not parse is skipped and <paramref name="warn"/> told.
    /// </summary>
    public static List<T> ReadLines<T>(string file, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what, Action<string>? warn)
    {
        var entries = new List<T>();
        byte[] bytes;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            bytes = copy.ToArray();
        }
        var complete = bytes.AsMemory(0, bytes.AsSpan().LastIndexOf((byte)'\n') + 1);
        var number = 0;
        while (!complete.IsEmpty)
        {
            var newline = complete.Span.IndexOf((byte)'\n');
            var line = complete.Span[..newline];
            complete = complete[(newline + 1)..];
            number++;
            if (line.IsEmpty) continue;
            try
            {
                if (JsonSerializer.Deserialize(line, type) is { } e) entries.Add(e);
            }
            catch (JsonException)
            {
                warn?.Invoke($"Skipped line {number} of '{file}': not a whole {what} (a crash or a full disk while it was written).");
            }
        }
        return entries;
    }
}
