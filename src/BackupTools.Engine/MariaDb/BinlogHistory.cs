using System.Globalization;
using System.Text.Json;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>One archived binary log file with what proves where it sits in its history.</summary>
public sealed record ArchivedBinlog(CatalogEntry Entry, BinlogFileId File, GtidState? End, DateTime First, DateTime Last, int Timeline)
{
    public string Name => File.Name;
    public string? RotatedTo => Entry.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.RotatedTo);

    /// <summary>
    /// <paramref name="next"/> continues this file with nothing between: the next number, and (where both are known)
    /// it starts from exactly the GTID state this file ended with.
    /// </summary>
    public bool ContinuedBy(ArchivedBinlog next) =>
        next.File.Number == File.Number + 1 && File.SameOrigin(next.File) && (End is null || next.File.Start is null || End.Equals(next.File.Start));

    public string DescribeEnd() => $"{Name} (ends {RestoreText.Time(Last)}" + (End is null ? ")" : $" at GTID {Show(End)})");

    public string DescribeStart() => $"{Name} (starts {RestoreText.Time(First)}" + (File.Start is null ? ")" : $" at GTID {Show(File.Start)})");

    private static string Show(GtidState s) => s.IsEmpty ? "(none)" : s.ToString();
}

/// <summary>Missing archive between two files of one timeline.</summary>
public sealed record BinlogGap(int Timeline, ArchivedBinlog Before, ArchivedBinlog After)
{
    public IReadOnlyList<string> MissingFiles
    {
        get
        {
            if (!BinlogArchiver.TrySplit(Before.Name, out var prefix, out var a, out var width) || After.File.Number is not { } b) return [];
            var names = new List<string>();
            for (var n = a + 1; n < b && names.Count < 100; n++) names.Add(prefix + "." + n.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
            return names;
        }
    }

    public string Describe() =>
        $"timeline {Timeline} has a gap: after {Before.DescribeEnd()} the archive continues with {After.DescribeStart()}" +
        (MissingFiles.Count > 0 ? $"; {string.Join(", ", MissingFiles)} {(MissingFiles.Count == 1 ? "is" : "are")} not in the archive" : "; the GTID states do not continue each other") +
        $", so the transactions between {RestoreText.Time(Before.Last)} and {RestoreText.Time(After.First)} are missing";
}

/// <summary>A timeline's first and last archived files, and whether a full backup started on it.</summary>
public sealed record BinlogTimelineInfo(int Timeline, ArchivedBinlog FirstFile, ArchivedBinlog LastFile, CatalogEntry? FirstFull)
{
    public string Describe() =>
        $"timeline {Timeline} (from {FirstFile.File.Describe()}, first event {RestoreText.Time(FirstFile.First)})";
}

/// <summary>
/// A target's archived binary logs arranged into timelines, with the backups placed on them.
/// <para>
/// A timeline is one unbroken history of one server: each file continues the one before (next number, same server
/// and basename, starting from the GTID state the previous file ended with). A numbering restart (RESET MASTER), a
/// different server (a failover), a GTID state that does not continue, or our own -Replace restore starts a new
/// timeline, as a promotion does in PostgreSQL and pgBackRest. Restores never splice files of two timelines; a gap
/// inside a timeline (a file purged before it was archived) is found by the GTID states and named.
/// </para>
/// Numbers are given by the archiver and stored in each set's manifest; this class computes the number a new file
/// gets (<see cref="TimelineFor"/>) and places backups by the identity of their binlog file.
/// </summary>
public sealed class BinlogHistory
{
    private readonly List<ArchivedBinlog> _logs;
    private readonly List<CatalogEntry> _backups;
    private readonly List<DateTime> _replacements;

    private BinlogHistory(List<ArchivedBinlog> logs, List<CatalogEntry> backups, List<DateTime> replacements)
    {
        _logs = logs;
        _backups = backups;
        _replacements = replacements;
        Sort();
    }

    /// <summary>Archived files, by timeline, then number.</summary>
    public IReadOnlyList<ArchivedBinlog> Logs => _logs;

    public static BinlogHistory Load(string repositoryRoot, string target, IReadOnlySet<string>? without = null) =>
        FromEntries(BackupCatalog.List(repositoryRoot, MariaDbCatalog.Engine, target).Where(e => without is null || !without.Contains(e.Manifest.Id)),
            ReplaceMarkers.Times(repositoryRoot, target));

    public static BinlogHistory FromEntries(IEnumerable<CatalogEntry> entries, IEnumerable<DateTime> replacements)
    {
        var logs = new List<ArchivedBinlog>();
        var backups = new List<CatalogEntry>();
        foreach (var e in entries)
        {
            if (e.Manifest.Type == MariaDbCatalog.Binlog && e.Manifest.EngineFields.ContainsKey(EngineFieldNames.BinlogFile)) logs.Add(ToArchived(e));
            else if (e.Manifest.Type is MariaDbCatalog.Full or MariaDbCatalog.Incremental) backups.Add(e);
        }
        return new BinlogHistory(logs, backups, replacements.ToList());
    }

    public static ArchivedBinlog ToArchived(CatalogEntry e)
    {
        var f = e.Manifest.EngineFields;
        var timeline = f.TryGetValue(EngineFieldNames.Timeline, out var t) && int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 1;
        return new ArchivedBinlog(e, BinlogFileId.OfArchived(e.Manifest), GtidState.TryParse(f.GetValueOrDefault(EngineFieldNames.GtidStateAtEnd)),
            BinlogFileId.Time(f, EngineFieldNames.FirstEventTime) ?? e.Manifest.StartTime, BinlogFileId.Time(f, EngineFieldNames.LastEventTime) ?? e.Manifest.EndTime, timeline);
    }

    /// <summary>Adds a file archived in this run, so the next file of the run is placed after it.</summary>
    public void Add(ArchivedBinlog log)
    {
        _logs.Add(log);
        Sort();
    }

    private void Sort()
    {
        _logs.Sort((a, b) =>
            a.Timeline != b.Timeline ? a.Timeline.CompareTo(b.Timeline)
            : a.File.Number != b.File.Number ? Nullable.Compare(a.File.Number, b.File.Number)
            : a.First.CompareTo(b.First));
        _byName = null;
        _runs = null;
    }

    // Lookups made once per sort, so that placing every backup of a long history is not a scan of every file per
    // backup (a year of files every 15 minutes is 35,000 of them): the files by name, in the order above; and per
    // timeline, its files and where the unbroken run from each one ends.
    private Dictionary<string, List<ArchivedBinlog>>? _byName;
    private Dictionary<int, TimelineRuns>? _runs;

    private sealed record TimelineRuns(ArchivedBinlog[] Files, int[] RunEnd, Dictionary<ArchivedBinlog, int> Index);

    private IReadOnlyList<ArchivedBinlog> Named(string name)
    {
        if (_byName is null)
        {
            var byName = new Dictionary<string, List<ArchivedBinlog>>(StringComparer.Ordinal);
            foreach (var l in _logs)
            {
                if (!byName.TryGetValue(l.File.Name, out var list)) byName[l.File.Name] = list = [];
                list.Add(l);
            }
            _byName = byName;
        }
        return _byName.TryGetValue(name, out var found) ? found : [];
    }

    private TimelineRuns RunsOf(int timeline)
    {
        _runs ??= _logs.GroupBy(l => l.Timeline).ToDictionary(g => g.Key, g =>
        {
            var files = g.ToArray();
            var end = new int[files.Length];
            for (var i = files.Length - 1; i >= 0; i--)
                end[i] = i + 1 < files.Length && files[i].ContinuedBy(files[i + 1]) ? end[i + 1] : i;
            var index = new Dictionary<ArchivedBinlog, int>();
            for (var i = 0; i < files.Length; i++) index.TryAdd(files[i], i);
            return new TimelineRuns(files, end, index);
        });
        return _runs.TryGetValue(timeline, out var runs) ? runs : new TimelineRuns([], [], []);
    }

    /// <summary>The archived set holding exactly this file, if any.</summary>
    public ArchivedBinlog? Find(BinlogFileId file) => Named(file.Name).LastOrDefault(l => l.File.SameFileAs(file));

    /// <summary>
    /// The archived file a backup's binlog position is in. Backups that recorded the file's identity match it exactly;
    /// older ones match by name and by the file being open while the backup ran.
    /// </summary>
    public ArchivedBinlog? StartOf(BackupManifest backup)
    {
        if (BinlogFileId.OfBackup(backup) is not { } id) return null;
        return Named(id.Name).Where(l => l.File.SameFileAs(id) && (id.Created is not null || l.First <= backup.EndTime && l.Last >= backup.StartTime.AddSeconds(-1)))
            .MaxBy(l => l.First);
    }

    /// <summary>The timeline a backup started on: where its binlog file was archived, else what it recorded.</summary>
    public int? TimelineOf(BackupManifest backup) =>
        StartOf(backup)?.Timeline
        ?? (backup.EngineFields.TryGetValue(EngineFieldNames.Timeline, out var t) && int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null);

    /// <summary>The files after <paramref name="start"/> on its timeline that continue it, and the gap that ends the run (if a later file exists).</summary>
    public (IReadOnlyList<ArchivedBinlog> Run, BinlogGap? Gap) RunFrom(ArchivedBinlog start)
    {
        var runs = RunsOf(start.Timeline);
        // A file not among the history's own (a caller's copy): its run is itself, as when nothing continues it.
        if (!runs.Index.TryGetValue(start, out var i)) return ([start], null);
        var end = runs.RunEnd[i];
        var run = new ArraySegment<ArchivedBinlog>(runs.Files, i, end - i + 1);
        var next = end + 1 < runs.Files.Length ? runs.Files[end + 1] : null;
        return (run, next is not null && next.File.Number > runs.Files[end].File.Number ? new BinlogGap(start.Timeline, runs.Files[end], next) : null);
    }

    /// <summary>Timelines in the order they began, each with its first full backup.</summary>
    public IReadOnlyList<BinlogTimelineInfo> Timelines() =>
        _logs.GroupBy(l => l.Timeline)
            .Select(g => new BinlogTimelineInfo(g.Key, g.First(), g.Last(), Fulls(g.Key).FirstOrDefault()))
            .OrderBy(t => t.FirstFile.First).ThenBy(t => t.Timeline).ToList();

    /// <summary>The full backups that started on a timeline, oldest first.</summary>
    public IReadOnlyList<CatalogEntry> Fulls(int timeline) =>
        _backups.Where(b => b.Manifest.Type == MariaDbCatalog.Full && TimelineOf(b.Manifest) == timeline).OrderBy(b => b.Manifest.EndTime).ToList();

    /// <summary>Files and backups whose binlog file identity is known and that carry a timeline: what a new file is placed against.</summary>
    private IEnumerable<(BinlogFileId File, GtidState? End, int Timeline, DateTime Order)> Known()
    {
        foreach (var l in _logs) yield return (l.File, l.End, l.Timeline, l.Entry.Manifest.StartTime);
        foreach (var b in _backups)
            if (BinlogFileId.OfBackup(b.Manifest) is { Created: not null } id && TimelineOf(b.Manifest) is { } t)
                yield return (id, null, t, b.Manifest.StartTime);
    }

    /// <summary>
    /// The timeline of a file not archived yet (or of a backup's binlog file): the one of the file it continues, or
    /// of a later known file it leads to; else a new one.
    /// </summary>
    public int TimelineFor(BinlogFileId file)
    {
        if (Find(file) is { } archived) return archived.Timeline;
        var known = Known().Where(k => !k.File.SameFileAs(file)).ToList();
        foreach (var k in Known())
            if (k.File.SameFileAs(file) && k.File.Created is not null) return k.Timeline;
        if (file.Created is { } created && file.Number is { } number)
        {
            // The file before it: of the same server and basename, the highest number below it created no later
            // (the newest such, when two histories share the number). Files of other servers never continue it.
            // (Not MaxBy/MinBy: they throw on an empty sequence of value tuples.)
            var sameOrigin = known.Where(k => k.File.SameOrigin(file) && k.File.Number is not null).ToList();
            var before = sameOrigin.Where(k => k.File.Number < number && k.File.Created <= created)
                .OrderBy(k => (k.File.Number, k.File.Created, k.Order)).LastOrDefault();
            if (before.File is not null && Continues(before.File, before.End, file)) return before.Timeline;
            // Else the file after it that a backup already placed (files older than the first backup are met later).
            var after = sameOrigin.Where(k => k.File.Number > number && k.File.Created >= created)
                .OrderBy(k => (k.File.Number, k.File.Created, k.Order)).FirstOrDefault();
            if (after.File is not null && Continues(file, null, after.File)) return after.Timeline;
        }
        return known.Count == 0 ? 1 : known.Max(k => k.Timeline) + 1;
    }

    /// <summary>
    /// <paramref name="later"/> belongs to the same history as <paramref name="earlier"/>: same server and basename, a
    /// higher number, no -Replace restore between them, and, for the very next number, the GTID state continuing.
    /// A higher number that skips files stays on the timeline: that is a gap, reported as one.
    /// </summary>
    private bool Continues(BinlogFileId earlier, GtidState? earlierEnd, BinlogFileId later)
    {
        if (!earlier.SameOrigin(later) || earlier.Number is not { } a || later.Number is not { } b || b <= a) return false;
        if (ReplacedBetween(earlier.Created, later.Created)) return false;
        return b != a + 1 || earlierEnd is null || later.Start is null || earlierEnd.Equals(later.Start);
    }

    /// <summary>A -Replace restore happened after the first file was created and no later than the second.</summary>
    private bool ReplacedBetween(DateTime? first, DateTime? second)
    {
        if (first is null || second is null) return false;
        // File times are whole seconds: a file created in the second of the swap was created after it (the server was stopped).
        return _replacements.Any(r => Second(r) > first && Second(r) <= second);
    }

    private static DateTime Second(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}

/// <summary>
/// The -Replace restores of a target, one small file each under <c>mariadb/&lt;target&gt;/_timeline/</c>: binlog files
/// the server creates after one belong to a new timeline, whatever their names and GTID states say (the server's
/// binlog state still describes the history that was undone).
/// </summary>
public static class ReplaceMarkers
{
    public const string Directory = "_timeline";

    public static string Path(string repositoryRoot, string target) => System.IO.Path.Combine(repositoryRoot, MariaDbCatalog.Engine, target, Directory);

    public static IReadOnlyList<DateTime> Times(string repositoryRoot, string target)
    {
        var dir = Path(repositoryRoot, target);
        if (!System.IO.Directory.Exists(dir)) return [];
        var times = new List<DateTime>();
        foreach (var file in System.IO.Directory.EnumerateFiles(dir, "replaced-*.json"))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
                times.Add(doc.RootElement.GetProperty("replacedAt").GetDateTime().ToUniversalTime());
            }
            catch (Exception e) when (e is JsonException or IOException or KeyNotFoundException or FormatException or InvalidOperationException)
            {
                throw new InvalidDataException($"'{file}' records a -Replace restore but cannot be read ({e.Message}); binary log timelines depend on it. Restore it from a copy or fix its JSON.", e);
            }
        }
        return times;
    }

    /// <summary>Records a -Replace restore, durably, before the swapped-in server can write a single binlog event.</summary>
    public static void Write(string repositoryRoot, string target, DateTime replacedAt, string dataDirectory, DateTime pointInTime, string? reachedGtid)
    {
        var dir = Path(repositoryRoot, target);
        FileModes.CreatePrivateDirectory(dir);
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string?>
        {
            ["replacedAt"] = replacedAt.ToString("o", CultureInfo.InvariantCulture),
            ["dataDirectory"] = dataDirectory,
            ["pointInTime"] = pointInTime.ToString("o", CultureInfo.InvariantCulture),
            ["reachedGtid"] = reachedGtid,
        });
        // Named by the swap's time, so recovery writing it a second time after a crash replaces it instead of failing.
        FileModes.WriteDurably(System.IO.Path.Combine(dir, $"replaced-{replacedAt:yyyyMMdd'T'HHmmssfff'Z'}.json"), json, FileMode.Create);
    }
}
