using System.Globalization;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Archives binary logs: <c>FLUSH BINARY LOGS</c> closes the current file, then every closed file not yet archived is
/// streamed into a set of its own (compressed, checksummed, with its first/last event times and positions read on the
/// way), under the target's binlog lock. Then it checks that the archive has no hole from the newest full backup's
/// binlog position onward: a file purged before it was archived breaks point-in-time recovery and is reported loudly.
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
                var server = await FlushAndListAsync(request, cancellationToken);
                var archived = ArchivedFiles(request.RepositoryRoot, target.Name);
                var closed = server.Files.Take(server.Files.Count - 1).ToList(); // the last one is being written
                var firstNeeded = FirstNeededFile(request.RepositoryRoot, target.Name);
                var toArchive = closed.Where(f => !archived.ContainsKey(f.Name) && (firstNeeded is null || Compare(f.Name, firstNeeded) >= 0)).ToList();
                if (toArchive.Count < closed.Count(f => !archived.ContainsKey(f.Name)))
                    request.Log?.Invoke($"Skipping binary logs older than {firstNeeded}, where the oldest full backup starts: no restore can use them.");
                foreach (var file in toArchive)
                {
                    if (attempts.Count > 0) await run.StartNextAsync();
                    var manifest = await ArchiveFileAsync(run, request, server, file, cancellationToken);
                    attempts.Add(new BackupAttempt(BackupRecords.FromCatalog(new CatalogEntry(manifest, run.Writer.FinalPath), request.PolicyPath), null));
                    archived[file.Name] = manifest;
                }
                if (FindHole(request.RepositoryRoot, target.Name, archived) is { } hole)
                {
                    if (attempts.Count > 0) await run.StartNextAsync();
                    run.Fail(hole);
                    attempts.Add(Failed(request, run.Writer.Id, run.Writer.StartTime, hole));
                }
                else if (attempts.Count == 0)
                {
                    request.Log?.Invoke("No closed binary log needed archiving.");
                    run.CompleteWithoutSet();
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                run.Fail(e);
                attempts.Add(Failed(request, run.Writer.Id, run.Writer.StartTime, e));
            }
        }
        return attempts;
    }

    private static BackupAttempt Failed(BackupRequest request, string? id, DateTime start, Exception e) =>
        BackupRecords.Failed(MariaDbCatalog.Engine, request.Target.Name, MariaDbCatalog.Binlog, id, start, e, request.PolicyPath);

    private sealed record ServerBinlogs(string Directory, IReadOnlyList<BinlogName> Files, string? ServerVersion);

    private sealed record BinlogName(string Name, long Size);

    private static async Task<ServerBinlogs> FlushAndListAsync(BackupRequest request, CancellationToken ct)
    {
        var target = request.Target;
        await using var connection = await MariaDbConnections.OpenAsync(target, request.Password, ct);
        string basename;
        await using (var check = new MySqlCommand("SELECT @@log_bin, @@log_bin_basename", connection))
        await using (var reader = await check.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            if (Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture) == 0)
                throw new InvalidOperationException(
                    $"Target '{target.Name}': binary logging is off on the server, so there is nothing to archive and no point-in-time recovery. " +
                    "Set log_bin in the server's configuration and restart it.");
            basename = reader.GetString(1);
        }
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
        return new ServerBinlogs(directory, files, version);
    }

    private static async Task<BackupManifest> ArchiveFileAsync(BackupRun run, BackupRequest request, ServerBinlogs server, BinlogName file, CancellationToken ct)
    {
        var path = Path.Combine(server.Directory, file.Name);
        request.Log?.Invoke($"Archiving {path} ({file.Size} bytes)");
        BinlogScanner scanner;
        await using (var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            scanner = new BinlogScanner(source);
            await run.Writer.AddFileAsync(file.Name, scanner, request.Compression, request.Progress, ct, file.Size);
        }
        var facts = scanner.Facts;
        if (!facts.ClosedCleanly)
            request.Log?.Invoke($"{file.Name} does not end with a Rotate or Stop event (the server may have crashed while writing it); archived as it is.");
        var fields = new Dictionary<string, string>
        {
            [EngineFieldNames.BinlogFile] = file.Name,
            [EngineFieldNames.BinlogPosition] = "4", // events start after the 4-byte magic
            [EngineFieldNames.EndPosition] = facts.EndPosition.ToString(CultureInfo.InvariantCulture),
        };
        if (facts.FirstEventTime is { } first) fields[EngineFieldNames.FirstEventTime] = BackupRecords.FormatTime(first);
        if (facts.LastEventTime is { } last) fields[EngineFieldNames.LastEventTime] = BackupRecords.FormatTime(last);
        if (facts.GtidListAtStart is { Length: > 0 } gtids) fields[EngineFieldNames.GtidListAtStart] = gtids;
        if (facts.ServerId is { } id) fields[EngineFieldNames.ServerId] = id.ToString(CultureInfo.InvariantCulture);
        return await run.CommitAsync(m => m with { ServerVersion = server.ServerVersion, EngineFields = fields }, request.Progress, ct);
    }

    private static Dictionary<string, BackupManifest> ArchivedFiles(string root, string target) =>
        BackupCatalog.List(root, MariaDbCatalog.Engine, target, MariaDbCatalog.Binlog)
            .GroupBy(e => e.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile) ?? "")
            .Where(g => g.Key.Length > 0)
            .ToDictionary(g => g.Key, g => g.First().Manifest, StringComparer.Ordinal);

    /// <summary>The binlog file the oldest full backup starts replay from; older files serve no restore.</summary>
    private static string? FirstNeededFile(string root, string target) =>
        BackupCatalog.List(root, MariaDbCatalog.Engine, target, MariaDbCatalog.Full)
            .Select(e => e.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile))
            .LastOrDefault(f => f is not null);

    /// <summary>
    /// Files missing from the archive between the newest full backup's binlog file and the newest archived file.
    /// Checked on every run, so the gap stays loud until a new full backup starts a chain after it.
    /// </summary>
    private static BinlogHoleException? FindHole(string root, string target, IReadOnlyDictionary<string, BackupManifest> archived)
    {
        var newestFull = BackupCatalog.List(root, MariaDbCatalog.Engine, target, MariaDbCatalog.Full).FirstOrDefault();
        var from = newestFull?.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.BinlogFile)
                   ?? archived.Keys.Order(Comparer<string>.Create(Compare)).FirstOrDefault();
        if (from is null || !TrySplit(from, out var prefix, out var first, out var width)) return null;
        var numbers = archived.Keys.Select(k => TrySplit(k, out var p, out var n, out _) && p == prefix ? n : -1).Where(n => n >= 0).ToHashSet();
        if (numbers.Count == 0) return null;
        var missing = new List<string>();
        for (var n = first; n <= numbers.Max(); n++)
            if (!numbers.Contains(n)) missing.Add(prefix + "." + n.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
        if (missing.Count == 0) return null;
        var since = newestFull is null ? $"{from}" : $"the full backup {newestFull.Manifest.Id}";
        return new BinlogHoleException(target, missing, since);
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
