using System.Globalization;
using BackupTools.Engine.Targets;
using MySqlConnector;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Full and incremental backups with mariabackup: its mbstream output goes through compression and SHA-256 straight
/// into a new backup set (one pass, no local copy), the small LSN directory is kept beside it, every file is re-read
/// before the set is published, and a failure publishes nothing.
/// </summary>
public static partial class MariaDbBackup
{
    private static readonly HashSet<string> SystemSchemas = new(["mysql", "performance_schema", "sys", "information_schema"], StringComparer.Ordinal);

    // "[01] 2026-11-29 23:19:01 Streaming ./app/t.frm to <STDOUT>"
    [System.Text.RegularExpressions.GeneratedRegex(@"Streaming \./(?<db>[^/\s]+)/(?<table>[^/\s]+)\.frm to ")]
    private static partial System.Text.RegularExpressions.Regex UserTableFile();

    public static async Task<BackupAttempt> RunAsync(BackupRequest request, string type, CancellationToken cancellationToken)
    {
        if (type is not (MariaDbCatalog.Full or MariaDbCatalog.Incremental))
            throw new ArgumentOutOfRangeException(nameof(type), type, "mariabackup takes full or incremental backups.");
        if (type == MariaDbCatalog.Incremental && await TryWhyNotIncrementalAsync(request, cancellationToken) is { } reason)
        {
            request.Log?.Invoke(reason + " Taking a full backup instead, so the new chain starts on the server's present history.");
            type = MariaDbCatalog.Full;
        }
        return await BackupRecords.AttemptAsync(request, MariaDbCatalog.Engine, type, run => BackupAsync(run, request, type, cancellationToken), cancellationToken);
    }

    private static async Task<BackupManifest> BackupAsync(BackupRun run, BackupRequest request, string type, CancellationToken ct)
    {
        DataDirectorySwap.RecoverInterrupted(request.RepositoryRoot, request.Target.Name, request.Log, request.Target.DataDir);
        // Which server this is, before mariabackup starts: compared afterwards, so a failover or RESET MASTER during the
        // backup cannot make the manifest describe another server's binlog file than the one the data came from.
        (uint ServerId, string? Basename, string? CurrentFile, string Version)? before;
        try { before = await ServerIdentityAsync(request, ct); }
        catch (MySqlException) { before = null; } // a refused login: mariabackup fails on it next, with its own log and our hint
        var target = request.Target;
        var tools = new MariaDbTools(target.ToolsDir);
        // Another release's mariabackup fails mid-way on the server's InnoDB files (or copies what it cannot prepare).
        if (before is { } server) await tools.RequireReleaseAsync(server.Version, $"Backing up target '{target.Name}'", ct);
        CatalogEntry? parent = null;
        if (type == MariaDbCatalog.Incremental)
        {
            parent = MariaDbCatalog.ChainHead(request.RepositoryRoot, target.Name) ?? throw new NoFullBackupException(target.Name);
            request.Log?.Invoke($"Incremental continues {parent.Manifest.Type} backup {parent.Manifest.Id} (to LSN {parent.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.ToLsn)})");
        }

        using var temp = PrivateTempDirectory.Create();
        var optionsFile = MariaBackupOptionsFile.Write(temp, target, request.Password);
        var lsnDir = Path.Combine(temp.Path, "lsn");
        var workDir = Path.Combine(temp.Path, "work");
        Directory.CreateDirectory(workDir);
        var arguments = new List<string>
        {
            $"--defaults-file={optionsFile}", "--backup", "--stream=mbstream", $"--extra-lsndir={lsnDir}", $"--target-dir={workDir}",
        };
        if (parent is not null) arguments.Add($"--incremental-basedir={await CopyLsnFilesAsync(parent, Path.Combine(temp.Path, "base"), ct)}");

        var total = DataDirectorySize(target.DataDir);
        var tables = new HashSet<string>(StringComparer.Ordinal);
        var result = await ProcessRunner.RunAsync(new ProcessSpec(tools.Program("mariabackup"), arguments),
            (stdout, token) => run.Writer.AddFileAsync(MariaDbCatalog.StreamFileName, stdout, request.Compression, request.Progress, token, total),
            ct, line =>
            {
                request.Log?.Invoke("mariabackup: " + line);
                // Every table has a .frm that mariabackup streams: counted from its own log, so the count does not
                // depend on which tables the backup login may see in information_schema (it needs no SELECT).
                if (UserTableFile().Match(line) is { Success: true } m && !SystemSchemas.Contains(m.Groups["db"].Value))
                    lock (tables) tables.Add(m.Groups["db"].Value + "/" + m.Groups["table"].Value);
            });
        if (result.ExitCode != 0 || !BackupPreparer.EndsWithCompletedOk(result.StderrTail))
            throw new MariaBackupFailedException("--backup", result.ExitCode, result.StderrTail);

        var info = MariaBackupInfo.Read(lsnDir);
        foreach (var file in MariaBackupInfo.LsnFiles(lsnDir))
        {
            await using var source = File.OpenRead(file);
            await run.Writer.AddFileAsync(Path.GetFileName(file), source, CompressionOptions.None, null, ct);
        }

        // Right after mariabackup, before a -Verify prepare that can take long: the binlog file is still the one it named.
        var fields = info.ToEngineFields();
        await AddTimelineFieldsAsync(fields, request, info.BinlogFile, before, ct);
        if (type == MariaDbCatalog.Full) CheckNotEmpty(fields, request, tables.Count);

        if (request.Verify)
            await VerifyByPreparingAsync(run, request, parent, ct);
        fields[EngineFieldNames.ChainRoot] = parent is null ? run.Writer.Id : parent.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.ChainRoot, parent.Manifest.Id);
        return await run.CommitAsync(m => m with
        {
            ParentId = parent?.Manifest.Id,
            ToolVersion = info.ToolVersion,
            ServerVersion = info.ServerVersion,
            EngineFields = fields,
        }, request.Progress, ct);
    }

    /// <summary>
    /// Records how many user tables the server has, and refuses a full backup of none when the previous full had some
    /// (a wiped or wrongly pointed server), unless the target sets allowEmpty.
    /// </summary>
    private static void CheckNotEmpty(Dictionary<string, string> fields, BackupRequest request, long tables)
    {
        fields[EngineFieldNames.UserTables] = tables.ToString(CultureInfo.InvariantCulture);
        if (tables > 0 || request.Target.AllowEmpty) return;
        var previous = BackupCatalog.List(request.RepositoryRoot, MariaDbCatalog.Engine, request.Target.Name, MariaDbCatalog.Full).FirstOrDefault();
        if (previous is not null && long.TryParse(previous.Manifest.EngineFields.GetValueOrDefault(EngineFieldNames.UserTables), NumberStyles.None, CultureInfo.InvariantCulture, out var had) && had > 0)
            throw new EmptyBackupException(request.Target.Name,
                $"the server has no user tables, but the previous full backup {previous.Manifest.Id} had {had} (was it wiped, or does the target point at another server?)");
    }

    /// <summary>The server's id, its @@log_bin_basename and the binlog file it writes now (both null when binary logging is off).</summary>
    private static async Task<(uint ServerId, string? Basename, string? CurrentFile, string Version)> ServerIdentityAsync(BackupRequest request, CancellationToken ct)
    {
        await using var connection = await MariaDbConnections.OpenAsync(request.Target, request.Password, ct);
        var version = connection.ServerVersion;
        uint id;
        await using (var query = new MySqlCommand("SELECT @@server_id", connection))
            id = Convert.ToUInt32(await query.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
        var basename = await BinlogArchiver.LogBasenameAsync(connection, ct);
        if (basename is null) return (id, null, null, version);
        await using var status = new MySqlCommand("SHOW MASTER STATUS", connection);
        await using var reader = await status.ExecuteReaderAsync(ct);
        return (id, basename, await reader.ReadAsync(ct) ? reader.GetString(0) : null, version);
    }

    /// <summary>
    /// Where the backup's binlog position sits in the binlog history: the server, its basename, the identity of the file
    /// (creation time, starting GTID state) and the timeline, so restores place the backup by identity, not by name.
    /// </summary>
    private static async Task AddTimelineFieldsAsync(Dictionary<string, string> fields, BackupRequest request, string? binlogFile,
        (uint ServerId, string? Basename, string? CurrentFile, string Version)? before, CancellationToken ct)
    {
        var (serverId, basename, _, _) = await ServerIdentityAsync(request, ct);
        if (before is { } b && (serverId != b.ServerId || basename != b.Basename))
            throw new InvalidOperationException(
                $"Target '{request.Target.Name}': the server changed while the backup ran (server_id {b.ServerId} before, {serverId} after: a failover?), " +
                "so the backup cannot say which binary log history it belongs to. Nothing was published; run it again.");
        fields[EngineFieldNames.ServerId] = serverId.ToString(CultureInfo.InvariantCulture);
        if (basename is null || binlogFile is null) return;
        fields[EngineFieldNames.LogBasename] = basename;
        var path = Path.Combine(Path.GetDirectoryName(basename)!, binlogFile);
        if (!File.Exists(path))
        {
            request.Log?.Invoke($"The binary log {path} is not visible on this host, so the backup records its file by name only.");
            return;
        }
        var id = await BinlogArchiver.IdentifyAsync(Path.GetDirectoryName(basename)!, basename, binlogFile, ct);
        if (id.Created is { } created) fields[EngineFieldNames.BinlogFileCreated] = BackupRecords.FormatTime(created);
        if (id.Start is { } start) fields[EngineFieldNames.BinlogFileGtidList] = start.ToString();
        fields[EngineFieldNames.Timeline] = BinlogHistory.Load(request.RepositoryRoot, request.Target.Name).TimelineFor(id)
            .ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Why an incremental must not continue the newest chain: the server is another one (a failover), its data directory
    /// was replaced by a restore since, or its binary logs are on another timeline. mariabackup would copy the pages
    /// changed since the parent's LSN of whatever data it finds, and an incremental over different data is silently useless.
    /// </summary>
    private static async Task<string?> TryWhyNotIncrementalAsync(BackupRequest request, CancellationToken ct)
    {
        try { return await WhyNotIncrementalAsync(request, ct); }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return null; // the server cannot be asked: the incremental attempt fails on the same cause, with a Failed record
        }
    }

    /// <summary>InnoDB's current log sequence number (SHOW ENGINE INNODB STATUS, PROCESS privilege), or null when it cannot be read.</summary>
    private static async Task<ulong?> CurrentLsnAsync(BackupRequest request, CancellationToken ct)
    {
        await using var connection = await MariaDbConnections.OpenAsync(request.Target, request.Password, ct);
        await using var status = new MySqlCommand("SHOW ENGINE INNODB STATUS", connection);
        await using var reader = await status.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var match = System.Text.RegularExpressions.Regex.Match(reader.GetString(2), @"Log sequence number\s+(\d+)");
        return match.Success ? ulong.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    private static async Task<string?> WhyNotIncrementalAsync(BackupRequest request, CancellationToken ct)
    {
        var target = request.Target.Name;
        if (MariaDbCatalog.ChainHead(request.RepositoryRoot, target) is not { } parent) return null; // the incremental reports it
        var m = parent.Manifest;
        if (ReplaceMarkers.Times(request.RepositoryRoot, target).Where(r => r > m.EndTime).Order().LastOrDefault() is { Ticks: > 0 } replaced)
            return $"Target '{target}': its data directory was replaced by a restore at {RestoreText.Time(replaced)}, after the chain head {m.Id}.";
        var (serverId, basename, current, version) = await ServerIdentityAsync(request, ct);
        if (MariaDbTools.Release(m.ServerVersion) is { } was && MariaDbTools.Release(version) is { } release && was != release)
            return $"Target '{target}': the server runs MariaDB {release} now, but the chain head {m.Id} was taken from {was} (an upgrade): an incremental never spans two releases.";
        if (m.EngineFields.GetValueOrDefault(EngineFieldNames.ServerId) is { } parentServer && parentServer != serverId.ToString(CultureInfo.InvariantCulture))
            return $"Target '{target}': the server answering now has server_id {serverId}, but the chain head {m.Id} was taken from server_id {parentServer} (a failover?).";
        if (ulong.TryParse(m.EngineFields.GetValueOrDefault(EngineFieldNames.ToLsn), NumberStyles.None, CultureInfo.InvariantCulture, out var parentLsn)
            && await CurrentLsnAsync(request, ct) is { } lsn && lsn < parentLsn)
            return $"Target '{target}': the server's InnoDB log sequence number {lsn} is behind the chain head {m.Id}'s {parentLsn}: " +
                   "its data directory is not the one the chain was taken from (restored, or replaced by hand).";
        if (basename is null) return null;
        var directory = Path.GetDirectoryName(basename)!;
        if (current is null || !File.Exists(Path.Combine(directory, current))) return null;
        var history = BinlogHistory.Load(request.RepositoryRoot, target);
        var now = history.TimelineFor(await BinlogArchiver.IdentifyAsync(directory, basename, current, ct));
        if (history.TimelineOf(m) is { } before && before != now)
            return $"Target '{target}': its binary logs are on timeline {now} (RESET MASTER, a failover or a restore since), but the chain head {m.Id} started on timeline {before}.";
        return null;
    }

    /// <summary>
    /// The parent's LSN files, checked against its manifest, in a directory of their own for --incremental-basedir:
    /// the parent's data is never extracted.
    /// </summary>
    private static async Task<string> CopyLsnFilesAsync(CatalogEntry parent, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var copied = 0;
        foreach (var file in parent.Manifest.Files.Where(f => MariaBackupInfo.CheckpointFileNames.Concat(MariaBackupInfo.InfoFileNames).Contains(f.Name)))
        {
            var source = Path.Combine(parent.Path, file.Name);
            if (await StreamingWriter.HashFileAsync(source, ct) != file.Sha256)
                throw new BackupVerificationException(
                    $"'{source}' of backup {parent.Manifest.Id} does not match its manifest, so an incremental cannot safely continue it. " +
                    "Run Test-DbBackup on it, and take a new full backup.");
            File.Copy(source, Path.Combine(directory, file.Name));
            copied++;
        }
        if (copied == 0)
            throw new InvalidDataException($"Backup {parent.Manifest.Id} kept no LSN files, so an incremental cannot continue it; take a full backup.");
        return directory;
    }

    /// <summary>-Verify: prepare the whole chain, this backup included, from a scratch copy, before anything is published.</summary>
    private static async Task VerifyByPreparingAsync(BackupRun run, BackupRequest request, CatalogEntry? parent, CancellationToken ct)
    {
        var links = new List<ChainLink>();
        if (parent is not null)
            links.AddRange(MariaDbCatalog.Chain(request.RepositoryRoot, parent).Select(ToLink));
        var stream = run.Writer.Files.First(f => f.Name.StartsWith(MariaDbCatalog.StreamFileName, StringComparison.Ordinal));
        links.Add(new ChainLink(run.Writer.Id, Path.Combine(run.Writer.PartialPath, stream.Name), stream.Compression, stream.Sha256));
        using var scratch = ScratchDirectory.Create(request.RepositoryRoot, "verify-" + run.Writer.Id);
        await BackupPreparer.PrepareChainAsync(links, scratch, request.Progress, request.Log, ct, new MariaDbTools(request.Target.ToolsDir));
        request.Log?.Invoke($"Prepared the chain of {links.Count} backup(s) ending with {run.Writer.Id}: it restores.");
    }

    public static ChainLink ToLink(CatalogEntry entry)
    {
        var file = MariaDbCatalog.StreamFile(entry.Manifest);
        return new ChainLink(entry.Manifest.Id, Path.Combine(entry.Path, file.Name), file.Compression, file.Sha256, entry.Manifest.ServerVersion);
    }

    /// <summary>Bytes under the data directory, for a percentage; null when it is not on this host.</summary>
    private static long? DataDirectorySize(string? dataDir)
    {
        if (dataDir is null || !Directory.Exists(dataDir)) return null;
        try
        {
            return new DirectoryInfo(dataDir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return null;
        }
    }
}
