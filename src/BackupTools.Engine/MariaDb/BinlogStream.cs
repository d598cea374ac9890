using System.Diagnostics;
using System.Globalization;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Continuous binary-log streaming: a replica connection (<see cref="BinlogReceiver"/>, the module's own, or
/// mariadb-binlog <c>--read-from-remote-server --raw --stop-never</c> with <c>stream: { client: mariadb-binlog }</c>;
/// its own server id either way) writes each event into &lt;repository&gt;/_stream/&lt;target&gt;/ as it arrives
/// (measured on 10.11: the file has the server's size within half a second of a commit). Every second the file being
/// received is fsynced (so a committed transaction is on disk within about a second) and each file the server has
/// rotated away from is sealed into a normal binlog set (<see cref="BinlogArchiver.SealStreamedAsync"/>), which the
/// scheduled archiving then recognises and does not archive again. When the connection ends (a server restart, a
/// network cut), it is opened again naming the newest file it was writing, which it writes again from its start
/// (complete, no torn tail), with a back-off of 1, 2, 4 … 30 seconds.
/// </summary>
public static class BinlogStream
{
    public const string DirectoryName = "_stream";

    public static string DirectoryFor(string repositoryRoot, string target) => Path.Combine(repositoryRoot, DirectoryName, target);

    /// <summary>Test hook: each fsync of the file being received, with its name and the length it had before the sync.</summary>
    internal static Action<string, long>? SyncedHook;

    /// <summary>Test hook: the replica server id (unique per stream, from the target's name, unless set).</summary>
    internal static int? ServerIdOverride;

    public static async Task RunAsync(BackupRequest request, Action<BackupAttempt> sealedSet, CancellationToken ct)
    {
        var target = request.Target;
        var log = request.Log;
        var directory = DirectoryFor(request.RepositoryRoot, target.Name);
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(directory)!); // 0700: the tool creates its files 0644
        FileModes.CreatePrivateDirectory(directory);
        var (basename, version, serverFiles) = await ServerAsync(target, request.Password, ct);
        var prefix = Path.GetFileName(basename) + ".";
        foreach (var other in Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>()
                     .Where(n => BinlogArchiver.TrySplit(n, out _, out _, out _) && !n.StartsWith(prefix, StringComparison.Ordinal)))
            request.Warn?.Invoke($"{Path.Combine(directory, other)} is a streamed binary log of another log basename (another server, before a failover?); " +
                                 $"this stream seals only {prefix}* files. Archive it yourself or move it away once it is safe elsewhere.");
        // mariadb-binlog's login, in a 0600 file written only when the tool runs (the own connection keeps it in memory).
        using var secrets = PrivateTempDirectory.Create();
        string? options = null;
        var backoff = TimeSpan.FromSeconds(1);
        var useTool = target.StreamWithMariaDbBinlog;
        var lastInSync = DateTime.UtcNow;
        var sealAgainAt = DateTime.MinValue;
        // Since when it is not receiving (null while it is), and why the connection ended last: for the status and its alert.
        DateTime? disconnectedSince = null;
        string? lastError = null;
        (string? File, long? Bytes) server = (null, null);
        await using var position = new PositionReader(target, request.Password);
        try
        {
            await StreamAsync();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { } // stopped while asking the server or sealing: a normal stop
        finally
        {
            // Stopped by the user (or the service): no state left to be taken for a dead stream.
            if (ct.IsCancellationRequested) BinlogStreamState.Remove(directory);
        }
        return;

        // A seal that failed is tried again a minute later, whether the tool runs or keeps restarting.
        async Task SealAsync(string? keep)
        {
            if (DateTime.UtcNow < sealAgainAt) return;
            foreach (var a in await BinlogArchiver.SealStreamedAsync(request, directory, basename, version, keep, ct))
            {
                if (a.Error is not null) sealAgainAt = DateTime.UtcNow.AddMinutes(1);
                sealedSet(a);
            }
        }

        async Task StreamAsync()
        {
            var first = true;
            while (!ct.IsCancellationRequested)
            {
                // A held copy whose rewrite never began or did not catch up goes back under its name first: the file is
                // never missing from the directory while no tool is writing it.
                TakeBackHeld(directory);
                // The server's files and sizes as they are now (a list from before an outage would make a file the
                // stream holds look longer than the server's).
                if (!first)
                {
                    try { (basename, version, serverFiles) = await ServerAsync(target, request.Password, ct); }
                    catch (Exception e) when (e is MySqlException or TimeoutException or IOException or System.Net.Sockets.SocketException)
                    {
                        lastError = e.Message;
                        log?.Invoke($"{target.Name} does not answer yet: {e.Message}");
                        if (!await PauseAsync()) break;
                        continue;
                    }
                }
                first = false;
                // Resume on the file it was writing, while the server still has it; else at the server's newest (a file
                // purged in between is a gap the scheduled archiving's hole check reports loudly).
                var resume = Streamed(directory, basename).LastOrDefault();
                long? serverSize = resume is null ? null : serverFiles.Where(f => f.Name == resume).Select(f => (long?)f.Size).FirstOrDefault();
                if (serverSize is not null && !await HeadReadableAsync(Path.Combine(directory, resume!), ct))
                {
                    // A damaged copy of a file the server still has: kept aside, and the file streamed again whole.
                    var damaged = Path.Combine(directory, $"{resume}.damaged-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}");
                    File.Move(Path.Combine(directory, resume!), damaged);
                    request.Warn?.Invoke($"The streamed copy of {resume} cannot be read from its start; it is kept as {damaged} and the file is streamed again from {target.Name}'s server.");
                    continue;
                }
                bool? resumeSame = serverSize is not null ? await SameFileAsync(target, request.Password, directory, resume!, log, ct) : false;
                if (resumeSame == true && Length(Path.Combine(directory, resume!)) > serverSize)
                {
                    // The server's file is shorter than what was streamed from it: it lost its tail (a crash with
                    // sync_binlog=0, recovery dropping transactions). What the stream holds beyond it is kept aside,
                    // never written over; the stream goes on with the server's history.
                    var aside = Path.Combine(directory, $"{resume}.diverged-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}");
                    File.Move(Path.Combine(directory, resume!), aside);
                    request.Warn?.Invoke($"{target.Name}'s server now has {serverSize} bytes of {resume}, fewer than the {Length(aside)} the stream received: " +
                                         $"the server lost transactions it had written. The streamed copy is kept as {aside} (restores do not read it); compare it with the server's.");
                }
                var start = resumeSame == true && File.Exists(Path.Combine(directory, resume!)) ? resume! : serverFiles[^1].Name;
                bool? startSame = !File.Exists(Path.Combine(directory, start)) ? false : start == resume ? resumeSame : await SameFileAsync(target, request.Password, directory, start, log, ct);
                if (resumeSame is null || startSame is null)
                {
                    // Cannot tell whether the server's file is the one here: writing it could overwrite another server's.
                    if (!await PauseAsync()) break;
                    continue;
                }
                if (resume is not null && resume != start)
                    log?.Invoke($"{resume} is not on {target.Name}'s server, or the server's file of that name is another (a failover): streaming from {start}.");
                // Everything else here is closed, or of another history: sealed before the tool writes, so it never
                // overwrites the old primary's file with the new one's file of the same name.
                var keep = startSame == true ? start : null;
                if (keep is null) CutTornTails(directory, basename, request.Warn);
                await SealAsync(keep);
                // Another history's files must all be sealed before the tool writes: left here, one with a higher
                // number would pass for the file being received (and this one be sealed half-written).
                if (keep is null && Streamed(directory, basename).Count > 0)
                {
                    log?.Invoke($"{directory} holds files of another server or history that could not be sealed yet; the stream waits rather than " +
                                "write beside or over them. The journal and Get-BackupStatus say why the seal failed.");
                    if (!await PauseAsync()) break;
                    continue;
                }
                // mariadb-binlog writes the file it resumes from its start: until it has it all again, what was
                // streamed stays under a held name (restores read the longer of the two), not truncated away.
                var holding = keep == start && Length(Path.Combine(directory, start)) > 0;
                if (holding) File.Move(Path.Combine(directory, start), Path.Combine(directory, HeldName(start)), overwrite: true);
                log?.Invoke($"Streaming {target.Name}'s binary logs from {start} into {directory}" + (useTool ? " through mariadb-binlog" : ""));
                StreamReplica replica;
                try
                {
                    replica = useTool
                        ? ToolReplica.Start(new MariaDbTools(target.ToolsDir).Program("mariadb-binlog"),
                            options ??= secrets.WriteSecretFile("client.cnf", ClientOptions(target, request.Password)), ServerId(target.Name), start, directory, line =>
                        {
                            lastError = line;
                            log?.Invoke("mariadb-binlog: " + line);
                        })
                        : await OwnReplica.StartAsync(target, request.Password, ServerId(target.Name), start, directory, ct);
                }
                catch (UnsupportedAuthenticationException e)
                {
                    // Said once, then mariadb-binlog (the client library speaks every plugin the server release has).
                    useTool = true;
                    request.Warn?.Invoke($"{target.Name}: {e.Message}; streaming through mariadb-binlog instead. Set stream: {{ client: mariadb-binlog }} to say so in the policy.");
                    TakeBackHeld(directory);
                    continue;
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is IOException or System.Net.Sockets.SocketException or TimeoutException)
                {
                    // Refused (the login, a purged file) or not reachable: as if it had stopped at once.
                    TakeBackHeld(directory);
                    if (!await RetryLaterAsync(e.Message)) break;
                    continue;
                }
                using var _ = replica;
                using var stopSyncer = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var syncFailureSaid = false;
                var syncer = target.StreamSyncCommit ? CommitSyncer.RunAsync(directory, () => SyncNewest(directory, basename), stopSyncer.Token) : Task.CompletedTask;
                try
                {
                    (string? File, long Length) synced = (null, -1);
                    while (!replica.HasStopped)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(1), ct);
                        // One listing a second serves the sync, the seal and the report (measured: the stream's own
                        // work a second is what it costs beyond mariadb-binlog's, so it is kept small).
                        var files = Streamed(directory, basename);
                        var newest = files.LastOrDefault();
                        var length = newest is null ? 0 : Length(Path.Combine(directory, newest));
                        if (newest is not null && (newest, length) != synced)
                        {
                            Sync(directory, newest);
                            synced = (newest, length); // nothing arrived: nothing to sync
                        }
                        // A seal that failed (a full disk, a changed file) is tried again a minute later, not every
                        // second: one failed attempt in the journal and one alert, not 60 a minute.
                        if (files.Count > 1) await SealAsync(newest);
                        if (holding) holding = ReleaseHeld(directory, files); // looked at only while this run holds a copy
                        if (syncer.IsFaulted && !syncFailureSaid)
                        {
                            // sync: commit could not watch or sync (the inotify limit, a failing disk): said, not hidden.
                            syncFailureSaid = true;
                            lastError = $"sync: commit stopped: {syncer.Exception?.GetBaseException().Message}";
                            request.Warn?.Invoke($"{target.Name}: {lastError}. The file being received is still fsynced once a second.");
                        }
                        server = await position.ReadAsync(ct);
                        Report(inSyncCheck: true, newest, length);
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { } // stopped (Ctrl+C, the service stopped): the connection goes too
                finally
                {
                    await replica.StopAsync();
                    await stopSyncer.CancelAsync();
                    try { await syncer; } catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException) { } // said above
                    SyncNewest(directory, basename);
                    TakeBackHeld(directory);
                }
                if (ct.IsCancellationRequested) break;
                // It stopped by itself: the server went away or refused us. mariadb-binlog's last line on stderr says
                // more than its exit code.
                if (!await RetryLaterAsync(useTool ? lastError ?? replica.StopReason : replica.StopReason)) break;
            }
        }

        // The connection failed or ended: said, what closed sealed, and tried again after the back-off; false when stopped.
        async Task<bool> RetryLaterAsync(string reason)
        {
            disconnectedSince ??= DateTime.UtcNow;
            lastError = reason;
            await SealAsync(Streamed(directory, basename).LastOrDefault());
            log?.Invoke($"{target.Name}: the replica connection stopped ({reason}); starting again in {backoff.TotalSeconds:0} s. " +
                        "If it keeps stopping, check that the server runs and that the login has REPLICATION SLAVE.");
            return await PauseAsync();
        }

        // The state file, every second: the file being received beside the server's position; in sync when they match
        // (the lag is then zero, and the stream is receiving). A server that cannot be asked leaves the last in-sync time.
        void Report(bool inSyncCheck, string? newest, long bytes)
        {
            var now = DateTime.UtcNow;
            if (inSyncCheck && server.File is not null && server.File == newest && server.Bytes <= bytes)
            {
                lastInSync = now;
                disconnectedSince = null;
                lastError = null;
                // Receiving again: the next interruption is retried after a second, not after the back-off an
                // earlier outage grew to (a stream that waits 30 s after a quick server restart would lose those 30 s
                // with the host).
                backoff = TimeSpan.FromSeconds(1);
            }
            new BinlogStreamState(Environment.MachineName, Environment.ProcessId, now, newest ?? "", bytes, server.File, server.Bytes, lastInSync,
                disconnectedSince, lastError).Write(directory);
        }

        // Waits out the back-off (1, 2, 4 … 30 s), reporting each second; false when stopped.
        async Task<bool> PauseAsync()
        {
            disconnectedSince ??= DateTime.UtcNow;
            for (var waited = TimeSpan.Zero; waited < backoff; waited += TimeSpan.FromSeconds(1))
            {
                var newest = Streamed(directory, basename).LastOrDefault();
                Report(inSyncCheck: false, newest, newest is null ? 0 : Length(Path.Combine(directory, newest)));
                try { await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, (backoff - waited).TotalSeconds)), ct); } catch (OperationCanceledException) { return false; }
            }
            backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            return true;
        }
    }

    /// <summary>
    /// The server's current binary-log position (SHOW MASTER STATUS), asked once a second over one connection kept
    /// open (opened again after a failure); (null, null) while the server cannot be asked.
    /// </summary>
    private sealed class PositionReader(Model.TargetPolicy target, string? password) : IAsyncDisposable
    {
        private MySqlConnection? _connection;

        public async Task<(string? File, long? Bytes)> ReadAsync(CancellationToken ct)
        {
            try
            {
                if (_connection is null)
                {
                    _connection = MariaDbConnections.Create(target, password, TimeSpan.FromSeconds(5));
                    await _connection.OpenAsync(ct);
                }
                await using var status = new MySqlCommand("SHOW MASTER STATUS", _connection);
                await using var reader = await status.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? (reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)) : (null, null);
            }
            catch (Exception e) when (e is MySqlException or TimeoutException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
                await DisposeAsync(); // opened again next second
                return (null, null);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_connection is not null) await _connection.DisposeAsync();
            _connection = null;
        }
    }

    /// <summary>The streamed files, oldest first.</summary>
    public static IReadOnlyList<string> Streamed(string directory, string basename)
    {
        var prefix = Path.GetFileName(basename) + ".";
        return Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, prefix + "*").Select(Path.GetFileName).OfType<string>()
                .Where(n => BinlogArchiver.TrySplit(n, out _, out _, out _) && !n.EndsWith(".index", StringComparison.Ordinal))
                .Order(Comparer<string>.Create(BinlogArchiver.Compare)).ToList()
            : [];
    }

    /// <summary>
    /// fsync of the file being received: what arrived is on disk, not only in the page cache. Opened for writing (never
    /// written): .NET flushes a handle to disk only when it can write, and fsync on any descriptor of the file covers
    /// what the tool wrote through its own. A failing fsync (a failing disk) is not hidden: the stream stops on it.
    /// </summary>
    private static void SyncNewest(string directory, string basename)
    {
        if (Streamed(directory, basename).LastOrDefault() is { } newest) Sync(directory, newest);
    }

    private static long Length(string path)
    {
        try { return new FileInfo(path).Length; }
        catch (FileNotFoundException) { return 0; }
    }

    private static void Sync(string directory, string newest)
    {
        try
        {
            using var file = new FileStream(Path.Combine(directory, newest), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            var length = file.Length;
            file.Flush(flushToDisk: true);
            SyncedHook?.Invoke(newest, length);
        }
        catch (FileNotFoundException) { } // sealed and removed in between
    }

    private static async Task<bool> HeadReadableAsync(string path, CancellationToken ct)
    {
        try { await BinlogScanner.ReadHeaderAsync(path, ct); return true; }
        catch (InvalidDataException) { return false; }
        catch (FileNotFoundException) { return true; }
    }

    /// <summary>The name the copy of a resumed file is held under while mariadb-binlog writes it again (a dot name: never sealed or listed as streamed).</summary>
    public static string HeldName(string file) => $".{file}.held";

    private static IEnumerable<string> HeldFiles(string directory) =>
        Directory.EnumerateFiles(directory, ".*.held").Select(Path.GetFileName).OfType<string>();

    /// <summary>
    /// When no tool writes: each held copy goes back under its name unless what is there now is longer; one whose file
    /// is gone while a later file is here was sealed whole (after the file caught up) and is dropped, never brought
    /// back beside its sealed set.
    /// </summary>
    private static void TakeBackHeld(string directory)
    {
        var streamed = Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>()
            .Where(n => BinlogArchiver.TrySplit(n, out _, out _, out _)).ToList();
        foreach (var held in HeldFiles(directory))
        {
            var name = held[1..^".held".Length];
            var path = Path.Combine(directory, name);
            if (!File.Exists(path) && streamed.Any(f => BinlogArchiver.Compare(f, name) > 0)) File.Delete(Path.Combine(directory, held));
            else if (Length(Path.Combine(directory, held)) >= Length(path)) File.Move(Path.Combine(directory, held), path, overwrite: true);
            else File.Delete(Path.Combine(directory, held));
        }
    }

    /// <summary>
    /// Each second: a held copy goes once the file written again is as long, or once the file is gone while a later
    /// one is being received (it was sealed whole). Not while the tool has yet to create it. Returns whether a held
    /// copy remains.
    /// </summary>
    private static bool ReleaseHeld(string directory, IReadOnlyList<string> streamed)
    {
        var remains = false;
        foreach (var held in HeldFiles(directory))
        {
            var name = held[1..^".held".Length];
            var path = Path.Combine(directory, name);
            var rewritten = File.Exists(path) && Length(path) >= Length(Path.Combine(directory, held));
            var sealedWhole = !File.Exists(path) && streamed.Any(f => BinlogArchiver.Compare(f, name) > 0);
            if (rewritten || sealedWhole) File.Delete(Path.Combine(directory, held));
            else remains = true;
        }
        return remains;
    }

    /// <summary>
    /// Before the files of a history the server no longer continues are sealed (a failover, a purged file): one the
    /// tool was killed while writing ends inside an event, which no seal accepts, and no server will send its rest. Only
    /// that torn tail is cut (to the end of the last whole event; the bytes kept beside it as &lt;file&gt;.cut-&lt;time&gt;),
    /// and said. A file damaged inside, or one that ends whole, is left as it is (its seal says what is wrong).
    /// </summary>
    private static void CutTornTails(string directory, string basename, Action<string>? warn)
    {
        foreach (var name in Streamed(directory, basename))
        {
            var path = Path.Combine(directory, name);
            if (StreamedBinlogs.ScanWhole(path) is not { Damaged: false } scan || scan.WholeEventsEnd >= scan.Scanned || scan.WholeEventsEnd <= 4) continue;
            var cut = $"{path}.cut-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}";
            using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
            {
                var tail = new byte[scan.Scanned - scan.WholeEventsEnd];
                file.Position = scan.WholeEventsEnd;
                file.ReadExactly(tail);
                FileModes.WriteDurably(cut, tail);
                file.SetLength(scan.WholeEventsEnd);
                file.Flush(flushToDisk: true);
            }
            warn?.Invoke($"{path} ended inside an event ({scan.Scanned - scan.WholeEventsEnd} bytes after its last whole one) and no server continues it: " +
                         $"those bytes were moved to {cut} so that the file can be sealed.");
        }
    }

    /// <summary>
    /// Whether the server's file of this name is the file streamed here: written by the same server id, starting from
    /// the same GTID state (after a failover the new primary's mariadb-bin.000007 is another file). A streamed file
    /// with no events yet holds nothing to lose. Null when the server cannot be asked (down, or the login lacks
    /// BINLOG MONITOR): the caller waits rather than guess.
    /// </summary>
    private static async Task<bool?> SameFileAsync(Model.TargetPolicy target, string? password, string directory, string name, Action<string>? log, CancellationToken ct)
    {
        BinlogHeader local;
        try { local = await BinlogScanner.ReadHeaderAsync(Path.Combine(directory, name), ct); }
        catch (InvalidDataException) { return false; } // a damaged head is no file to resume: sealed (and refused loudly) as another's
        if (local.ServerId is null) return true;
        uint? serverId = null;
        string? gtids = null;
        try
        {
            await using var connection = MariaDbConnections.Create(target, password, TimeSpan.FromSeconds(10));
            await connection.OpenAsync(ct);
            await using var events = new MySqlCommand($"SHOW BINLOG EVENTS IN '{name.Replace("'", "''", StringComparison.Ordinal)}' LIMIT 5", connection);
            await using var reader = await events.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                serverId ??= Convert.ToUInt32(reader.GetValue(3), CultureInfo.InvariantCulture);
                if (reader.GetString(2) == "Gtid_list") gtids = reader.GetString(5).Trim('[', ']');
            }
        }
        catch (Exception e) when (e is MySqlException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            log?.Invoke($"Cannot read the head of {name} on {target.Name}'s server to tell whether it is the file streamed here ({e.Message}); " +
                        "waiting. The login needs BINLOG MONITOR and REPLICATION SLAVE.");
            return null;
        }
        if (serverId != local.ServerId) return false;
        return gtids is null || local.GtidListAtStart is null || Equals(GtidState.TryParse(gtids), GtidState.TryParse(local.GtidListAtStart));
    }

    private static async Task<(string Basename, string? Version, IReadOnlyList<(string Name, long Size)> Files)> ServerAsync(Model.TargetPolicy target, string? password, CancellationToken ct)
    {
        await using var connection = MariaDbConnections.Create(target, password, TimeSpan.FromSeconds(10));
        await connection.OpenAsync(ct);
        var basename = await BinlogArchiver.LogBasenameAsync(connection, ct)
            ?? throw new InvalidOperationException($"Target '{target.Name}': binary logging is off on the server, so there is nothing to stream. Set log_bin and restart it.");
        // Name and size, in the server's order (oldest first).
        var files = new List<(string Name, long Size)>();
        await using (var list = new MySqlCommand("SHOW BINARY LOGS", connection))
        await using (var reader = await list.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) files.Add((reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)));
        var version = connection.ServerVersion.StartsWith("5.5.5-", StringComparison.Ordinal) ? connection.ServerVersion[6..] : connection.ServerVersion;
        return files.Count > 0 ? (basename, version, files) : throw new InvalidOperationException($"Target '{target.Name}' lists no binary log.");
    }

    /// <summary>The login, in a 0600 file in a private directory: never on the command line or in the tool's environment.</summary>
    private static string ClientOptions(Model.TargetPolicy target, string? password) =>
        "[client]\n" + (target.User is { } u ? $"user={MariaBackupOptionsFile.Quote(u)}\n" : "") + (password is { } p ? $"password={MariaBackupOptionsFile.Quote(p)}\n" : "") +
        (target.Socket is { } s ? $"socket={s}\n" : $"host={target.Host}\nport={target.Port?.ToString(CultureInfo.InvariantCulture) ?? "3306"}\n");

    /// <summary>A replica id of its own per target (two replicas with one id knock each other off), away from small ids servers use.</summary>
    private static int ServerId(string target) =>
        ServerIdOverride ?? 1_000_000 + (int)(BitConverter.ToUInt32(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(target))) % 1_000_000);
}
