using System.Globalization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// The files the binlog stream (<see cref="BinlogStream"/>) holds and has not sealed yet, above all the one still
/// growing, as binlog entries the restore planner can place on a timeline like archived sets: so the window ends at the
/// stream's last complete transaction, seconds ago, not at the last sealed file.
/// <para>
/// Each file counts only up to its last whole transaction (<see cref="BinlogScanner.CompleteEnd"/>): a torn last event
/// or a transaction whose commit has not arrived is left out. The entries live in memory only (no manifest, no set
/// id on disk); the restore copies that many bytes and proves the copy says the same (<see cref="CopyAsync"/>), since
/// the stream may rewrite the file from its start when it restarts.
/// </para>
/// </summary>
public static class StreamedBinlogs
{
    public const string IdPrefix = "streamed-";
    /// <summary>In-memory field: the file the bytes are read from (the streamed file, or its held copy while it is written again).</summary>
    private const string StreamedFrom = "streamedFrom";

    /// <summary>The path of the streamed bytes an entry counts.</summary>
    public static string SourcePath(CatalogEntry entry) =>
        Path.Combine(entry.Path, entry.Manifest.EngineFields.GetValueOrDefault(StreamedFrom) ?? entry.Manifest.EngineFields[EngineFieldNames.BinlogFile]);

    public static bool IsStreamed(CatalogEntry entry) => entry.Manifest.EngineFields.ContainsKey(EngineFieldNames.StreamedBytes);

    public static long Bytes(CatalogEntry entry) => long.Parse(entry.Manifest.EngineFields[EngineFieldNames.StreamedBytes], CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads the stream's unsealed files of a target, places each on its timeline in <paramref name="history"/> (after
    /// the archived files, in order) and returns their entries. A file already archived (sealed, its copy not removed
    /// yet) is left to its set; a file with no whole transaction is left out.
    /// </summary>
    public static IReadOnlyList<CatalogEntry> AddTo(string repositoryRoot, string target, BinlogHistory history) =>
        Place(Read(repositoryRoot, target, out _), history);

    /// <summary>
    /// The stream's files as entries not yet on a timeline. Read before the catalog is listed: a file sealed in
    /// between is then in the catalog (and left to its set), never in neither. <paramref name="problems"/> names the
    /// files that could not be read as binary logs (a restore cannot use them; the planner warns).
    /// </summary>
    public static IReadOnlyList<CatalogEntry> Read(string repositoryRoot, string target, out IReadOnlyList<string> problems)
    {
        var directory = BinlogStream.DirectoryFor(repositoryRoot, target);
        var found = new List<string>();
        problems = found;
        if (!Directory.Exists(directory)) return [];
        var entries = new List<CatalogEntry>();
        // The streamed files, and those only held for now (their rewrite not begun yet).
        var listed = Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>().ToList();
        var names = listed.Select(n => n.StartsWith('.') && n.EndsWith(".held", StringComparison.Ordinal) ? n[1..^".held".Length] : n)
            .Where(n => BinlogArchiver.TrySplit(n, out _, out _, out _) && !n.EndsWith(".index", StringComparison.Ordinal))
            .Distinct().Order(Comparer<string>.Create(BinlogArchiver.Compare));
        foreach (var name in names)
        {
            // While the stream writes a resumed file again, the copy it held is longer: that one is read.
            var source = name;
            var held = BinlogStream.HeldName(name);
            var heldInfo = new FileInfo(Path.Combine(directory, held));
            var nameInfo = new FileInfo(Path.Combine(directory, name));
            if (heldInfo.Exists && (!nameInfo.Exists || heldInfo.Length > nameInfo.Length)) source = held;
            (long Length, BinlogFileFacts Facts)? read;
            try { read = Read(Path.Combine(directory, source)); }
            catch (InvalidDataException e)
            {
                found.Add($"The streamed file '{Path.Combine(directory, name)}' cannot be read as a binary log ({e.Message}); restores leave it out.");
                continue;
            }
            if (read is not var (length, facts) || facts.Events == 0) continue;
            var fields = new Dictionary<string, string>
            {
                [EngineFieldNames.BinlogFile] = name,
                [EngineFieldNames.BinlogPosition] = "4",
                [EngineFieldNames.EndPosition] = length.ToString(CultureInfo.InvariantCulture),
                [EngineFieldNames.StreamedBytes] = length.ToString(CultureInfo.InvariantCulture),
                [StreamedFrom] = source,
            };
            BinlogArchiver.AddFacts(fields, facts);
            entries.Add(new CatalogEntry(new BackupManifest
            {
                Id = IdPrefix + name, Engine = MariaDbCatalog.Engine, Target = target, Type = MariaDbCatalog.Binlog,
                StartTime = facts.FirstEventTime ?? DateTime.UtcNow, EndTime = facts.LastEventTime ?? DateTime.UtcNow,
                RawBytes = length, EngineFields = fields,
            }, directory));
        }
        return entries;
    }

    /// <summary>Places read entries on their timelines (in name order), leaving out files the history holds as sealed sets.</summary>
    public static IReadOnlyList<CatalogEntry> Place(IReadOnlyList<CatalogEntry> streamed, BinlogHistory history)
    {
        var placed = new List<CatalogEntry>();
        foreach (var read in streamed)
        {
            var fileId = BinlogFileId.OfArchived(read.Manifest);
            if (history.Find(fileId) is not null) continue; // sealed: its set serves it
            var fields = new Dictionary<string, string>(read.Manifest.EngineFields)
            {
                [EngineFieldNames.Timeline] = history.TimelineFor(fileId).ToString(CultureInfo.InvariantCulture),
            };
            var entry = read with { Manifest = read.Manifest with { EngineFields = fields } };
            history.Add(BinlogHistory.ToArchived(entry));
            placed.Add(entry);
        }
        return placed;
    }

    /// <summary>The whole-transaction length of a streamed file and what that part holds; null when it cannot be read.</summary>
    internal static (long Length, BinlogFileFacts Facts)? Read(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            var scanner = Scan(file, file.Length);
            if (scanner.CompleteEnd <= 4)
            {
                // Nothing whole yet (a file just begun), unless it is no binary log at all: that is said, not skipped.
                var head = new byte[4];
                file.Position = 0;
                if (file.Read(head) == 4 && !head.AsSpan().SequenceEqual((byte[])[0xfe, 0x62, 0x69, 0x6e]))
                    throw new InvalidDataException("it does not start with the binary log magic bytes");
                return null;
            }
            if (scanner.CompleteEnd != scanner.Scanned)
            {
                // Read again up to the last whole transaction, so the facts (GTID state, last time) are of that part only.
                file.Position = 0;
                scanner = Scan(file, scanner.CompleteEnd);
            }
            return (scanner.CompleteEnd, scanner.Facts);
        }
        catch (FileNotFoundException) { return null; } // sealed and removed meanwhile: its set is in the catalog
    }

    /// <summary>A whole scan of a file: where its whole events end and whether it is damaged (null when it is gone).</summary>
    internal static BinlogScanner? ScanWhole(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            return Scan(file, file.Length);
        }
        catch (FileNotFoundException) { return null; }
    }

    private static BinlogScanner Scan(Stream file, long length)
    {
        var scanner = new BinlogScanner(Stream.Null);
        var buffer = new byte[1 << 16];
        for (long left = length; left > 0;)
        {
            var n = file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) break;
            scanner.Feed(buffer.AsSpan(0, n));
            left -= n;
        }
        return scanner;
    }

    /// <summary>
    /// Copies the planned part of a streamed file into the restore's scratch and proves it holds what the plan read
    /// (the same length of whole events, ending at the same GTID state). The stream rewrites a file from its start
    /// after a restart, so a copy taken at that moment is refused rather than replayed.
    /// </summary>
    public static async Task CopyAsync(CatalogEntry entry, Stream destination, BinlogScanner scanner, CancellationToken ct)
    {
        var path = SourcePath(entry);
        var length = Bytes(entry);
        try
        {
            await using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous);
            var buffer = new byte[1 << 16];
            for (long left = length; left > 0;)
            {
                var n = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
                if (n == 0) break;
                scanner.Feed(buffer.AsSpan(0, n));
                await destination.WriteAsync(buffer.AsMemory(0, n), ct);
                left -= n;
            }
        }
        catch (FileNotFoundException)
        {
            throw new RestoreChainException($"The streamed binary log '{path}' was sealed into a set after the plan was made. The restore stopped before replaying anything; run it again.");
        }
        var expected = entry.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.GtidStateAtEnd);
        BinlogFileFacts facts;
        try { facts = scanner.Facts; }
        catch (InvalidDataException e) { throw Changed(path, e.Message); }
        if (scanner.Scanned != length || scanner.CompleteEnd != length || facts.GtidStateAtEnd != expected)
            throw Changed(path, $"{scanner.Scanned} bytes read, {scanner.CompleteEnd} whole, ending at GTID state '{facts.GtidStateAtEnd}'; the plan read {length} bytes ending at '{expected}'.");
    }

    private static RestoreChainException Changed(string path, string detail) =>
        new($"The streamed binary log '{path}' changed under the restore (the stream restarted and is writing it again): {detail} The restore stopped before replaying anything; run it again.");
}
