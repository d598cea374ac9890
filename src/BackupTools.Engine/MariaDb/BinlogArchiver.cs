using System.Globalization;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Archives binary logs: <c>FLUSH BINARY LOGS</c> closes the current file, then every closed file not yet archived is
/// streamed into a set of its own (compressed, checksummed, with its first/last event times, positions and GTID states
/// read on the way), under the target's binlog lock. A file is known by its identity (server, basename, name, creation
/// time, starting GTID state), never by its name alone, so the new <c>mariadb-bin.000001</c> after RESET MASTER or a
/// failover is archived on a new timeline (<see cref="BinlogHistory"/>) instead of being taken for the old one. Then it
/// checks that the newest timeline has no hole from its newest full backup's binlog position onward: a file purged
/// before it was archived breaks point-in-time recovery and is reported loudly.
/// </summary>
public static class BinlogArchiver
{
    public static async Task<IReadOnlyList<BackupAttempt>> RunAsync(BackupRequest request, CancellationToken cancellationToken)
    {
        var target = request.Target;
        var start = DateTime.UtcNow;
        BackupRun run;
        try
        {
            run = BackupRun.Start(request.RepositoryRoot, MariaDbCatalog.Engine, target.Name, MariaDbCatalog.Binlog, request.Log);
        }
        catch (TargetLockedException e)
        {
            return [Failed(request, null, start, e)];
        }
        var attempts = new List<BackupAttempt>();
        await using (run)
        {
            try
            {
                DataDirectorySwap.RecoverInterrupted(request.RepositoryRoot, target.Name, request.Log);
                var server = await FlushAndListAsync(request, cancellationToken);
                var history = BinlogHistory.Load(request.RepositoryRoot, target.Name);
                await ArchiveClosedAsync(run, request, server, server.Files.Take(server.Files.Count - 1).ToList(), history, attempts, cancellationToken); // the last one is being written
                var current = await IdentifyAsync(server, server.Files[^1], cancellationToken);
                if (FindHole(history, history.TimelineFor(current), target.Name) is { } hole)
                {
                    if (attempts.Count > 0) await run.StartNextAsync();
                    run.Fail(hole);
                    attempts.Add(Failed(request, run.Writer.Id, run.Writer.StartTime, hole));
                }
                else if (attempts.Count == 0)
                {
                    request.Log?.Invoke("No closed binary log needed archiving: every closed file on the server is in the archive (matched by server, name, creation time and GTID state).");
                    run.CompleteWithoutSet();
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                await run.FailAsync(e);
                attempts.Add(Failed(request, run.Writer.Id, run.Writer.StartTime, e));
            }
        }
        return attempts;
    }

    /// <summary>
    /// Seals the streamed files that are closed (a newer one exists) into binlog sets, as the scheduled archiving
    /// does with the server's own files, and removes each streamed file once its set is published. The newest file is
    /// still being received and stays. Nothing to seal costs one directory listing (no lock, no set, no journal line);
    /// the binlog lock held by a scheduled run makes this wait for the next second.
    /// </summary>
    /// <param name="keep">
    /// The file being received, which stays; every other one is sealed. Null: every file (before the stream starts
    /// on a file of another history, after a failover).
    /// </param>
    public static async Task<IReadOnlyList<BackupAttempt>> SealStreamedAsync(BackupRequest request, string streamDirectory, string basename,
        string? serverVersion, string? keep, CancellationToken ct)
    {
        var prefix = Path.GetFileName(basename) + ".";
        var files = Directory.EnumerateFiles(streamDirectory, prefix + "*")
            .Select(f => new FileInfo(f)).Where(f => TrySplit(f.Name, out _, out _, out _) && !f.Name.EndsWith(".index", StringComparison.Ordinal))
            .OrderBy(f => f.Name, Comparer<string>.Create(Compare)).ToList();
        if (!files.Any(f => f.Name != keep)) return [];
        BackupRun run;
        try { run = BackupRun.Start(request.RepositoryRoot, MariaDbCatalog.Engine, request.Target.Name, MariaDbCatalog.Binlog, request.Log); }
        catch (TargetLockedException) { return []; }
        var attempts = new List<BackupAttempt>();
        await using (run)
        {
            try
            {
                var closed = files.Where(f => f.Name != keep).Select(f => new BinlogName(f.Name, f.Length)).ToList();
                var server = new ServerBinlogs(streamDirectory, basename, files.Select(f => new BinlogName(f.Name, f.Length)).ToList(), serverVersion);
                await ArchiveClosedAsync(run, request, server, closed, BinlogHistory.Load(request.RepositoryRoot, request.Target.Name), attempts, ct);
                if (attempts.Count == 0) run.CompleteWithoutSet();
                // Each closed file is in a published set now (this run's, or an earlier one's): the streamed copy goes.
                foreach (var f in closed)
                {
                    File.Delete(Path.Combine(streamDirectory, BinlogStream.HeldName(f.Name))); // a held copy of it, if any: the set has it all
                    File.Delete(Path.Combine(streamDirectory, f.Name));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                await run.FailAsync(e);
                attempts.Add(Failed(request, run.Writer.Id, run.Writer.StartTime, e));
            }
        }
        return attempts;
    }

    private static BackupAttempt Failed(BackupRequest request, string? id, DateTime start, Exception e) =>
        BackupRecords.Failed(MariaDbCatalog.Engine, request.Target.Name, MariaDbCatalog.Binlog, id, start, e, request.PolicyPath);

    /// <summary>
    /// Archives closed binary logs (from the server's directory, or the stream's) that the archive does not hold yet,
    /// each into a set of its own. A file is known by its identity, so a file the stream sealed is not archived again by
    /// the scheduled run, and the other way round.
    /// </summary>
    private static async Task ArchiveClosedAsync(BackupRun run, BackupRequest request, ServerBinlogs server, IReadOnlyList<BinlogName> closed,
        BinlogHistory history, List<BackupAttempt> attempts, CancellationToken cancellationToken)
    {
        var target = request.Target;
        var timelinesBefore = history.Logs.Select(l => l.Timeline).ToHashSet();
        foreach (var file in closed)
        {
            var id = await IdentifyAsync(server, file, cancellationToken);
            if (history.Find(id) is { } done)
            {
                var archivedSize = done.Entry.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.EndPosition);
                if (archivedSize == file.Size.ToString(CultureInfo.InvariantCulture)) continue;
                throw new InvalidDataException(
                    $"{Path.Combine(server.Directory, file.Name)} has {file.Size} bytes, but its archived copy (set {done.Entry.Manifest.Id}) has {archivedSize}: " +
                    "a closed binary log changed after it was archived, which a server never does. Compare the two files before trusting either; " +
                    "nothing later is archived until this is resolved.");
            }
            var timeline = history.TimelineFor(id);
            if (FirstNeeded(history, timeline, id) is { } firstNeeded && id.Number < firstNeeded.Number)
            {
                request.Log?.Invoke($"Skipping {file.Name}: on timeline {timeline} the oldest full backup starts at {firstNeeded.Name}, so no restore can use it.");
                continue;
            }
            if (!timelinesBefore.Contains(timeline) && timelinesBefore.Count > 0)
                request.Log?.Invoke($"{id.Describe()} does not continue the archived history (RESET MASTER, a failover, or a -Replace restore): it starts timeline {timeline}. " +
                                    $"Point-in-time restores after it need a full backup on the new timeline: Start-DbBackup -Target {target.Name} -Type Full");
            timelinesBefore.Add(timeline);
            if (attempts.Count > 0) await run.StartNextAsync();
            var manifest = await ArchiveFileAsync(run, request, server, file, timeline, cancellationToken);
            attempts.Add(new BackupAttempt(BackupRecords.FromCatalog(new CatalogEntry(manifest, run.Writer.FinalPath), request.PolicyPath), null));
            history.Add(BinlogHistory.ToArchived(new CatalogEntry(manifest, run.Writer.FinalPath)));
        }
    }

    private sealed record ServerBinlogs(string Directory, string Basename, IReadOnlyList<BinlogName> Files, string? ServerVersion);

    private sealed record BinlogName(string Name, long Size);

    private static async Task<ServerBinlogs> FlushAndListAsync(BackupRequest request, CancellationToken ct)
    {
        var target = request.Target;
        await using var connection = await MariaDbConnections.OpenAsync(target, request.Password, ct);
        var basename = await LogBasenameAsync(connection, ct)
            ?? throw new InvalidOperationException(
                $"Target '{target.Name}': binary logging is off on the server, so there is nothing to archive and no point-in-time recovery. " +
                "Set log_bin in the server's configuration and restart it.");
        await using (var flush = new MySqlCommand("FLUSH BINARY LOGS", connection))
            await flush.ExecuteNonQueryAsync(ct);
        var files = new List<BinlogName>();
        await using (var list = new MySqlCommand("SHOW BINARY LOGS", connection))
        await using (var reader = await list.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                files.Add(new BinlogName(reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)));
        var directory = Path.GetDirectoryName(basename)!;
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException(
                $"Target '{target.Name}': the server writes its binary logs to '{directory}', which this host cannot see. " +
                "Archive binary logs on the database host itself (or mount that directory read-only here).");
        // MariaDB announces itself as "5.5.5-10.11.19-MariaDB…" on the wire for old clients; drop that prefix.
        var version = connection.ServerVersion.StartsWith("5.5.5-", StringComparison.Ordinal) ? connection.ServerVersion[6..] : connection.ServerVersion;
        return new ServerBinlogs(directory, basename, files, version);
    }

    /// <summary>The server's @@log_bin_basename, or null when binary logging is off.</summary>
    internal static async Task<string?> LogBasenameAsync(MySqlConnection connection, CancellationToken ct)
    {
        await using var check = new MySqlCommand("SELECT @@log_bin, @@log_bin_basename", connection);
        await using var reader = await check.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture) == 0 || reader.IsDBNull(1) ? null : reader.GetString(1);
    }

    /// <summary>Which file this is: read from its head (a few hundred bytes), not taken from its name.</summary>
    internal static async Task<BinlogFileId> IdentifyAsync(string directory, string basename, string name, CancellationToken ct)
    {
        var header = await BinlogScanner.ReadHeaderAsync(Path.Combine(directory, name), ct);
        return new BinlogFileId(name, header.ServerId, basename, header.Created, header.GtidListAtStart is { } g ? GtidState.Parse(g) : null);
    }

    private static Task<BinlogFileId> IdentifyAsync(ServerBinlogs server, BinlogName file, CancellationToken ct) =>
        IdentifyAsync(server.Directory, server.Basename, file.Name, ct);

    private static async Task<BackupManifest> ArchiveFileAsync(BackupRun run, BackupRequest request, ServerBinlogs server, BinlogName file, int timeline, CancellationToken ct)
    {
        var path = Path.Combine(server.Directory, file.Name);
        request.Log?.Invoke($"Archiving {path} ({file.Size} bytes)");
        BinlogScanner scanner;
        await using (var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            scanner = new BinlogScanner(source);
            await run.Writer.AddFileAsync(file.Name, scanner, request.Compression, request.Progress, ct, file.Size);
        }
        BinlogFileFacts facts;
        try { facts = scanner.Facts; }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException(
                $"{path}: {e.Message} Nothing of it was archived. If the server crashed while writing it, compare it with mariadb-binlog; " +
                "a point-in-time restore cannot replay past it, so take a full backup (Start-DbBackup -Type Full).", e);
        }
        if (!facts.ClosedCleanly)
            request.Log?.Invoke($"{file.Name} does not end with a Rotate or Stop event (the server may have crashed while writing it); archived as it is.");
        var fields = new Dictionary<string, string>
        {
            [EngineFieldNames.BinlogFile] = file.Name,
            [EngineFieldNames.BinlogPosition] = "4", // events start after the 4-byte magic
            [EngineFieldNames.EndPosition] = facts.EndPosition.ToString(CultureInfo.InvariantCulture),
            [EngineFieldNames.LogBasename] = server.Basename,
            [EngineFieldNames.Timeline] = timeline.ToString(CultureInfo.InvariantCulture),
        };
        AddFacts(fields, facts);
        return await run.CommitAsync(m => m with { ServerVersion = server.ServerVersion, EngineFields = fields }, request.Progress, ct);
    }

    /// <summary>What a binlog set's manifest (or a streamed file's entry) records of the file's events: times, GTID states, rotation, server.</summary>
    internal static void AddFacts(Dictionary<string, string> fields, BinlogFileFacts facts)
    {
        if (facts.FirstEventTime is { } first) fields[EngineFieldNames.FirstEventTime] = BackupRecords.FormatTime(first);
        if (facts.LastEventTime is { } last) fields[EngineFieldNames.LastEventTime] = BackupRecords.FormatTime(last);
        if (facts.GtidListAtStart is { } gtids) fields[EngineFieldNames.GtidListAtStart] = gtids;
        if (facts.GtidStateAtEnd is { } end) fields[EngineFieldNames.GtidStateAtEnd] = end;
        if (facts.RotatedTo is { } next) fields[EngineFieldNames.RotatedTo] = next;
        if (facts.ServerId is { } id) fields[EngineFieldNames.ServerId] = id.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The binlog file the oldest full backup on a timeline starts replay from; older files of that timeline serve no restore.</summary>
    private static BinlogFileId? FirstNeeded(BinlogHistory history, int timeline, BinlogFileId file) =>
        history.Fulls(timeline).FirstOrDefault() is { } full && BinlogFileId.OfBackup(full.Manifest) is { } id && id.SameOrigin(file)
            ? id : null;

    /// <summary>
    /// A gap in the timeline the server writes now, from its newest full backup's binlog file on (or from its first file): a file
    /// purged before it was archived, found by numbers and GTID states. Checked on every run, so the gap stays loud
    /// until a new full backup starts a chain after it.
    /// </summary>
    private static BinlogHoleException? FindHole(BinlogHistory history, int timeline, string target)
    {
        if (history.Timelines().FirstOrDefault(t => t.Timeline == timeline) is not { } newest) return null;
        var fulls = history.Fulls(newest.Timeline);
        var start = newest.FirstFile;
        if (fulls.LastOrDefault() is { } full)
        {
            if (history.StartOf(full.Manifest) is { } s) start = s;
            else if (BinlogFileId.OfBackup(full.Manifest) is { Number: { } n } id && newest.LastFile.File.Number > n)
                return new BinlogHoleException(target, [id.Name],
                    $"the full backup {full.Manifest.Id} starts in {id.Name}, which is not in the archive although later files of timeline {newest.Timeline} are");
        }
        var (_, gap) = history.RunFrom(start);
        return gap is null ? null : new BinlogHoleException(target, gap.MissingFiles, gap.Describe());
    }

    /// <summary>Orders binlog names by their sequence number (mariadb-bin.000010 after mariadb-bin.000009).</summary>
    internal static int Compare(string? a, string? b)
    {
        if (a is null || b is null) return string.CompareOrdinal(a, b);
        if (TrySplit(a, out var pa, out var na, out _) && TrySplit(b, out var pb, out var nb, out _) && pa == pb) return na.CompareTo(nb);
        return string.CompareOrdinal(a, b);
    }

    internal static bool TrySplit(string name, out string prefix, out long number, out int width)
    {
        var dot = name.LastIndexOf('.');
        prefix = dot > 0 ? name[..dot] : name;
        width = name.Length - dot - 1;
        return long.TryParse(name.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out number) & dot > 0;
    }
}
