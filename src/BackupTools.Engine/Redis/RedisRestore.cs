using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Redis;

public sealed record RedisRestoreRequest
{
    public required string RepositoryRoot { get; init; }
    public required TargetPolicy Target { get; init; }
    public required DateTime PointInTime { get; init; }
    /// <summary>A new or empty directory to write dump.rdb into (for a server to start on).</summary>
    public string? Destination { get; init; }
    /// <summary>Restore into the running target: SHUTDOWN NOSAVE, files in place, start, check.</summary>
    public bool Replace { get; init; }
    public string? Password { get; init; }
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public Action<string>? Log { get; init; }
    public Action<string>? Warn { get; init; }
    public Action<string>? StepStarted { get; init; }
}

public sealed class RedisRestoreException(string step, string message, Exception? inner = null) : Exception($"{step}: {message}", inner)
{
    public string Step { get; } = step;
}

/// <summary>
/// Restores a Redis snapshot. Precision is the snapshot: the newest one that ended at or before T is chosen, and the
/// result says which moment it holds. The dump is extracted, hash-checked and walked (CRC-64, key counts) before
/// anything live is touched. With Replace, the live files are renamed aside (never deleted), and on an AOF instance a
/// new append-only directory is built with the dump as its base, so the server cannot start empty (the trap,
/// measured on Redis 7.0: a dump.rdb beside appendonly yes and no appendonlydir loads nothing).
/// </summary>
public static class RedisRestore
{
    public static readonly string[] StepNames =
        ["choose the snapshot", "extract and check the dump", "stop the server (SHUTDOWN NOSAVE)", "put the files in place", "start the server", "check the keys"];

    public static CatalogEntry Choose(string repositoryRoot, string target, DateTime pointInTime) =>
        BackupCatalog.NewestSnapshot(repositoryRoot, RedisBackup.Engine, target, pointInTime);

    /// <summary>What a snapshot holds: the state at its fork, some moment between its start and its end.</summary>
    public static string Describe(CatalogEntry snapshot, DateTime pointInTime) =>
        $"snapshot {snapshot.Manifest.Id} (state at its fork, between {BackupRecords.FormatTime(snapshot.Manifest.StartTime)} and {BackupRecords.FormatTime(snapshot.Manifest.EndTime)}; " +
        $"{Ago(pointInTime - snapshot.Manifest.EndTime)} before the requested time; snapshot precision, no replay)";

    private static string Ago(TimeSpan t) => t.TotalSeconds < 120 ? $"{t.TotalSeconds:0} s" : t.TotalHours < 48 ? $"{t.TotalMinutes:0} min" : $"{t.TotalDays:0.#} days";

    public static async Task<RestoreResult> RunAsync(RedisRestoreRequest request, CancellationToken ct)
    {
        if (request.Replace == (request.Destination is not null))
            throw new ArgumentException("A Redis restore writes either to -Destination or, with -Replace, into the running target; give one of them.");
        var clock = Stopwatch.StartNew();
        var runner = new StepRunner(request.StepStarted);
        runner.Begin(StepNames[0]);
        // A reader lease: retention skips this target while the restore reads its snapshot.
        await using var reader = TargetLock.AcquireReader(request.RepositoryRoot, RedisBackup.Engine, request.Target.Name);
        var snapshot = Choose(request.RepositoryRoot, request.Target.Name, request.PointInTime);
        // Counts exist for a dump that was walked in full; one kept on its checksum (newer than the walker) has none.
        var expected = RedisFields.ReadChecked(snapshot.Manifest.EngineFields) == CheckDepth.Full ? RedisFields.ReadDatabases(snapshot.Manifest.EngineFields) : null;
        request.Log?.Invoke("Restoring " + Describe(snapshot, request.PointInTime));

        runner.Begin(StepNames[1]);
        // With -Replace the dump is written beside the live files (so putting it in place is a rename), in a directory
        // the server's account can write: everything goes through a handle to that directory, opened by a path walk that
        // refuses a directory above it another account could swap, into a new subdirectory under a random name (made
        // with mkdirat, never an existing name or link) and through that subdirectory's own handle.
        var workName = $".backuptools-restore-{Guid.NewGuid():N}";
        if (!SafeDirectory.Supported && !request.Replace && Directory.Exists(request.Destination) && Directory.EnumerateFileSystemEntries(request.Destination).Any())
            throw new RedisRestoreException(runner.Current, $"'{request.Destination}' is not empty. Give a new or empty directory as -Destination.");
        using var area = WorkArea.Open(request, workName);
        RdbSummary summary;
        try
        {
            summary = await ExtractAsync(snapshot, area, expected, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            area.Discard();
            throw new RedisRestoreException(runner.Current, e.Message + (request.Replace ? " The running server was not touched." : ""), e);
        }
        if (summary.Checked != CheckDepth.Full) request.Warn?.Invoke($"{request.Target.Name}: {summary.Unwalked}");
        var plan = Describe(snapshot, request.PointInTime);
        if (!request.Replace)
        {
            runner.End();
            return new RestoreResult
            {
                Target = request.Target.Name, PointInTime = request.PointInTime, Plan = plan, Destination = request.Destination!, Steps = runner.Done,
                Duration = clock.Elapsed, Validated = true, RestoredTo = snapshot.Manifest.EndTime,
                Validation = expected is null ? $"dump hash and {Checked(summary)} match the backup ({summary.Header}, newer than this version walks: keys not counted)"
                    : "dump hash, CRC-64 and key counts match the backup: " + Counts(expected),
            };
        }

        try
        {
            return await ReplaceAsync(request, snapshot, area, summary, expected, plan, runner, clock, ct);
        }
        finally
        {
            area.Discard();
        }
    }

    private static async Task<RestoreResult> ReplaceAsync(RedisRestoreRequest request, CatalogEntry snapshot, WorkArea area, RdbSummary summary,
        IReadOnlyList<RdbDatabase>? expected, string plan, StepRunner runner, Stopwatch clock, CancellationToken ct)
    {
        var target = request.Target;
        string dir, dbFile, aofDirName, aofFileName;
        bool aof;
        await using (var connection = await RespConnection.OpenAsync(target, request.Password, TimeSpan.FromSeconds(15), ct))
        {
            aof = (await connection.InfoAsync("persistence", ct)).GetValueOrDefault("aof_enabled") == "1";
            dir = await connection.ConfigGetAsync("dir", ct) ?? target.DataDir!;
            dbFile = await connection.ConfigGetAsync("dbfilename", ct) ?? "dump.rdb";
            aofDirName = await connection.ConfigGetAsync("appenddirname", ct) ?? "appendonlydir";
            aofFileName = await connection.ConfigGetAsync("appendfilename", ct) ?? "appendonly.aof";
            if (target.DataDir is not null && Path.GetFullPath(dir).TrimEnd('/') != Path.GetFullPath(target.DataDir).TrimEnd('/'))
                throw new RedisRestoreException(runner.Current, $"The server's dir is '{dir}' but the policy's dataDir is '{target.DataDir}'; fix the policy so the restore replaces the right files. Nothing was touched.");
            if (await RefusalAsync(connection, summary, ct) is { } refusal)
                throw new RedisRestoreException(runner.Current, $"{refusal} Nothing was touched: the server still runs on its own data.");
            request.Log?.Invoke($"Server dir {dir}, dbfilename {dbFile}, AOF {(aof ? $"on ({aofDirName}/{aofFileName})" : "off")}");

            runner.Begin(StepNames[2]);
            // NOSAVE: a plain SHUTDOWN with save points would write the current data over the file we put in place.
            await connection.SendAsync(ct, "SHUTDOWN", "NOSAVE");
        }
        await WaitUntilDownAsync(target, request.StartTimeout, ct);

        runner.Begin(StepNames[3]);
        var stamp = Stamps.Compact(DateTime.UtcNow);
        var kept = new List<string>();
        var live = Path.Combine(dir, dbFile);
        var aofDir = Path.Combine(dir, aofDirName);
        if (area.Live is { } liveDirectory)
            await PutInPlaceAsync(liveDirectory, area.Work!, dbFile, aofDirName, aofFileName, aof, stamp, kept, ct);
        else
        {
            if (File.Exists(live)) { File.Move(live, $"{live}.before-restore-{stamp}"); kept.Add($"{live}.before-restore-{stamp}"); }
            if (Directory.Exists(aofDir)) { Directory.Move(aofDir, $"{aofDir}.before-restore-{stamp}"); kept.Add($"{aofDir}.before-restore-{stamp}"); }
            if (aof) throw new RedisRestoreException(runner.Current, "An AOF instance is restored with -Replace on Linux only.");
            File.Move(area.DumpPath, live);
        }
        request.Log?.Invoke($"In place: {live}{(aof ? $" and {aofDir} (base {aofFileName}.1.base.rdb)" : "")}; kept: {string.Join(", ", kept)}");

        runner.Begin(StepNames[4]);
        if (target.StartCommand.Count > 0)
        {
            request.Log?.Invoke("Starting the server: " + string.Join(' ', target.StartCommand));
            await ProcessRunner.RunForTextAsync(new ProcessSpec(target.StartCommand[0], target.StartCommand.Skip(1).ToList()), ct);
        }
        else request.Warn?.Invoke($"The policy gives no startCommand for '{target.Name}': start its server now (e.g. systemctl start redis-server); waiting up to {request.StartTimeout.TotalMinutes:0} min.");
        await using var restarted = await WaitUntilUpAsync(target, request.Password, request.StartTimeout, ct);

        runner.Begin(StepNames[5]);
        var keyspace = await restarted.InfoAsync("keyspace", ct);
        var problems = expected is null ? [] : CompareCounts(expected, keyspace, DateTime.UtcNow);
        if (aof && (await restarted.InfoAsync("persistence", ct)).GetValueOrDefault("aof_enabled") != "1")
            problems.Add("the server came back with AOF off, though it had AOF on");
        if (problems.Count > 0)
            throw new RedisRestoreException(runner.Current, $"The restored server does not hold what the snapshot held: {string.Join("; ", problems)}. The previous files are kept: {string.Join(", ", kept)}.");
        runner.End();
        return new RestoreResult
        {
            Target = target.Name, PointInTime = request.PointInTime, Plan = plan, Destination = dir, Steps = runner.Done, Duration = clock.Elapsed,
            Validated = true,
            Validation = expected is null
                ? $"the server loaded the dump ({Checked(summary)} matched; {summary.Header} is newer than this version walks, so counts were not compared): {KeyspaceText(keyspace)}"
                : "the running server's key counts match the snapshot: " + Counts(expected),
            RestoredTo = snapshot.Manifest.EndTime, PreviousDataDirectory = string.Join(", ", kept),
        };
    }

    /// <summary>
    /// Writes the dump out, proving its SHA-256 on the way, then walks it (CRC-64 and key counts against the manifest).
    /// A dump newer than the walker is checked by its CRC-64 alone, as at backup time: unknown is not damaged.
    /// </summary>
    private static async Task<RdbSummary> ExtractAsync(CatalogEntry snapshot, WorkArea area, IReadOnlyList<RdbDatabase>? expected, CancellationToken ct)
    {
        var file = snapshot.Manifest.Files.Single(f => f.Name.StartsWith(RedisBackup.DumpFileName, StringComparison.Ordinal));
        await using (var source = StreamingWriter.OpenVerifiedRead(Path.Combine(snapshot.Path, file.Name), file.Compression, file.Sha256, out var verifier))
        await using (var output = area.CreateDump())
        {
            await source.CopyToAsync(output, 1 << 20, ct);
            await verifier.VerifyToEndAsync(ct);
            output.Flush(flushToDisk: true);
        }
        RdbSummary summary;
        await using (var check = area.OpenDump()) summary = RdbInspector.Inspect(check);
        if (expected is null || summary.Checked != CheckDepth.Full) return summary;
        var found = summary.Databases.Select(d => (d.Index, d.Keys)).ToList();
        if (!found.SequenceEqual(expected.Select(d => (d.Index, d.Keys))))
            throw new InvalidDataException($"The extracted dump holds {Counts(summary.Databases)}, but the backup recorded {Counts(expected)}.");
        return summary;
    }

    /// <summary>Why the server at hand would refuse the dump (an RDB version newer than it loads), asked before it is stopped.</summary>
    private static async Task<string?> RefusalAsync(RespConnection connection, RdbSummary summary, CancellationToken ct)
    {
        var server = await connection.InfoAsync("server", ct);
        string? check = null;
        if (server.ContainsKey("valkey_version"))
        {
            try { check = await connection.ConfigGetAsync("rdb-version-check", ct); }
            catch (RedisReplyException) { } // before Valkey 9, or CONFIG not allowed: strict is the default
        }
        return RdbCompatibility.Refusal(summary.Header, summary.WrittenBy, server, check);
    }

    private static string Checked(RdbSummary summary) => summary.Checked == CheckDepth.Checksum ? "CRC-64" : "header (no CRC-64 in the dump)";

    private static string KeyspaceText(IReadOnlyDictionary<string, string> keyspace) =>
        keyspace.Count == 0 ? "no keys" : string.Join(", ", keyspace.Where(k => k.Key.StartsWith("db", StringComparison.Ordinal)).Select(k => $"{k.Key}={k.Value.Split(',')[0].Split('=')[1]}"));

    /// <summary>
    /// Keys per database against the snapshot. A key whose TTL ran out since is dropped when the server loads the
    /// dump, so a database with TTLs may hold fewer keys, but never fewer than its keys without a TTL.
    /// </summary>
    public static List<string> CompareCounts(IReadOnlyList<RdbDatabase> expected, IReadOnlyDictionary<string, string> keyspace, DateTime now)
    {
        var problems = new List<string>();
        foreach (var db in expected)
        {
            var actual = keyspace.TryGetValue($"db{db.Index}", out var line)
                ? long.Parse(line.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture) : 0;
            var expiredPossible = db.EarliestExpiry is { } e && e <= now.AddSeconds(1);
            var min = expiredPossible ? db.Keys - db.Expires : db.Keys;
            if (actual > db.Keys || actual < min)
                problems.Add($"db{db.Index} has {actual} keys, expected {(min == db.Keys ? db.Keys.ToString(CultureInfo.InvariantCulture) : $"{min} to {db.Keys}")}");
        }
        foreach (var extra in keyspace.Keys.Where(k => k.StartsWith("db", StringComparison.Ordinal) && expected.All(d => $"db{d.Index}" != k)))
            problems.Add($"{extra} exists but the snapshot had no keys there");
        return problems;
    }

    private static string Counts(IEnumerable<RdbDatabase> databases)
    {
        var list = databases.Select(d => $"db{d.Index}={d.Keys}").ToList();
        return list.Count == 0 ? "no keys" : string.Join(", ", list);
    }

    private static string LiveDirectory(RedisRestoreRequest request) =>
        request.Target.DataDir ?? throw new RedisRestoreException("choose the snapshot",
            $"Target '{request.Target.Name}' has no dataDir in the policy, so -Replace does not know where the server's files are. Add dataDir (the server's 'dir').");

    private static async Task WaitUntilDownAsync(TargetPolicy target, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var probe = await RespConnection.ConnectAsync(target, TimeSpan.FromSeconds(2), ct);
            }
            catch (RedisConnectException)
            {
                return;
            }
            await Task.Delay(50, ct);
        }
        throw new RedisRestoreException("stop the server (SHUTDOWN NOSAVE)", $"Redis at {target.Endpoint} still accepts connections {timeout.TotalSeconds:0} s after SHUTDOWN NOSAVE; nothing was replaced.");
    }

    private static async Task<RespConnection> WaitUntilUpAsync(TargetPolicy target, string? password, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var c = await RespConnection.OpenAsync(target, password, TimeSpan.FromSeconds(5), ct);
                if ((await c.InfoAsync("persistence", ct)).GetValueOrDefault("loading") == "0") return c;
                await c.DisposeAsync();
            }
            catch (Exception e) when (e is RedisConnectException or IOException or RedisReplyException)
            {
                last = e; // LOADING replies and refused connections until it is up
            }
            await Task.Delay(100, ct);
        }
        throw new RedisRestoreException("start the server", $"Redis at {target.Endpoint} did not come back within {timeout.TotalMinutes:0.#} min ({last?.Message}). The restored files are in place; start the server and check its log.");
    }

    /// <summary>
    /// Puts the dump in place through handles to the server's directory (which its own account can write): the old
    /// files are renamed aside and the new ones moved in with renameat, and for an AOF instance (Redis 7 multi-part AOF:
    /// a manifest naming a base file, which may be an RDB) a new directory under a random name is made with mkdirat and
    /// filled through its own handle, so a symlink planted or swapped in mid-way is never written through. Running as
    /// root, the new files get the directory's owner (so a server running as redis can read them) through fchown on
    /// their handles, before they are moved in: no chown by path.
    /// </summary>
    private static async Task PutInPlaceAsync(SafeDirectory live, SafeDirectory work, string dbFile, string aofDirName, string aofFileName,
        bool aof, string stamp, List<string> kept, CancellationToken ct)
    {
        var owner = SafeDirectory.IsRoot ? live.Stat() : default((uint Mode, uint Uid, uint Gid, ulong, ulong)?);
        SafeDirectory.Pause("redis:put-in-place");
        // Never over an earlier restore's kept copy (two restores in one second): RENAME_NOREPLACE and a random suffix.
        var suffix = $"before-restore-{stamp}-{Guid.NewGuid().ToString("N")[..6]}";
        if (live.StatEntry(dbFile) is not null) { live.RenameNoReplace(dbFile, $"{dbFile}.{suffix}"); kept.Add(Path.Combine(live.Path, $"{dbFile}.{suffix}")); }
        if (live.StatEntry(aofDirName) is not null) { live.RenameNoReplace(aofDirName, $"{aofDirName}.{suffix}"); kept.Add(Path.Combine(live.Path, $"{aofDirName}.{suffix}")); }
        if (aof)
        {
            var freshName = $"{aofDirName}.restore-{Guid.NewGuid():N}";
            using (var fresh = live.CreateSubdirectory(freshName, FileModes.PrivateDirectory))
            {
                var baseName = $"{aofFileName}.1.base.rdb";
                await using (var target = fresh.CreateFile(baseName, FileModes.PrivateFile))
                await using (var source = work.OpenRead(RedisBackup.DumpFileName))
                {
                    await source.CopyToAsync(target, ct);
                    target.Flush(flushToDisk: true);
                }
                await using (var manifest = fresh.CreateFile($"{aofFileName}.manifest", FileModes.PrivateFile))
                {
                    await manifest.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"file {baseName} seq 1 type b\n"), ct);
                    manifest.Flush(flushToDisk: true);
                }
                if (owner is { } o)
                {
                    fresh.SetOwnerNoFollow(baseName, (int)o.Uid, (int)o.Gid);
                    fresh.SetOwnerNoFollow($"{aofFileName}.manifest", (int)o.Uid, (int)o.Gid);
                    fresh.SetOwner(o.Uid, o.Gid);
                }
            }
            live.RenameNoReplace(freshName, aofDirName);
        }
        if (owner is { } w) work.SetOwnerNoFollow(RedisBackup.DumpFileName, (int)w.Uid, (int)w.Gid);
        work.MoveTo(RedisBackup.DumpFileName, live, dbFile);
    }

    /// <summary>
    /// Where the dump is written before it goes live, held by handles on Linux: with -Replace a new randomly named
    /// subdirectory of the server's directory; with -Destination that directory itself (made through its parent's
    /// handle when missing). Elsewhere (Windows) a plain path.
    /// </summary>
    private sealed class WorkArea : IDisposable
    {
        private readonly string _name;

        private WorkArea(SafeDirectory? live, SafeDirectory? work, string dumpPath, string name)
        {
            (Live, Work, DumpPath, _name) = (live, work, dumpPath, name);
        }

        /// <summary>The server's directory (-Replace), or the destination's parent.</summary>
        public SafeDirectory? Live { get; }
        public SafeDirectory? Work { get; }
        public string DumpPath { get; }
        private bool Replace => _name.StartsWith(".backuptools-restore-", StringComparison.Ordinal);

        public static WorkArea Open(RedisRestoreRequest request, string name)
        {
            var dir = request.Replace ? LiveDirectory(request) : Path.GetFullPath(request.Destination!).TrimEnd('/');
            if (!SafeDirectory.Supported)
            {
                var work = request.Replace ? Path.Combine(dir, name) : dir;
                Directory.CreateDirectory(work);
                return new WorkArea(null, null, Path.Combine(work, RedisBackup.DumpFileName), request.Replace ? name : "");
            }
            var what = request.Replace ? $"to restore Redis target '{request.Target.Name}' into '{dir}'" : $"to write a Redis dump into '{dir}'";
            var parent = SafeDirectory.OpenPath(request.Replace ? dir : Path.GetDirectoryName(dir)!, what, create: !request.Replace);
            try
            {
                var work = request.Replace ? parent.CreateSubdirectory(name, FileModes.PrivateDirectory)
                    : parent.OpenOrCreateSubdirectory(Path.GetFileName(dir), FileModes.PrivateDirectory);
                if (!request.Replace && work.Entries().Count > 0)
                {
                    work.Dispose();
                    throw new RedisRestoreException(StepNames[1], $"'{dir}' is not empty. Give a new or empty directory as -Destination.");
                }
                return new WorkArea(parent, work, Path.Combine(work.Path, RedisBackup.DumpFileName), request.Replace ? name : "");
            }
            catch
            {
                parent.Dispose();
                throw;
            }
        }

        public FileStream CreateDump() => Work?.CreateFile(RedisBackup.DumpFileName, FileModes.PrivateFile)
            ?? new FileStream(DumpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);

        public FileStream OpenDump() => Work?.OpenRead(RedisBackup.DumpFileName) ?? File.OpenRead(DumpPath);

        /// <summary>
        /// Removes what the restore left of its own: the work directory (only if its name still holds the one made
        /// here), or the dump it wrote into -Destination (through that directory's handle).
        /// </summary>
        public void Discard()
        {
            try
            {
                if (Work is not null)
                {
                    if (Replace) Live!.DeleteTreeIfSame(_name, Work);
                    else Work.TryDelete(RedisBackup.DumpFileName);
                }
                else if (Replace) { if (Directory.Exists(Path.GetDirectoryName(DumpPath))) Directory.Delete(Path.GetDirectoryName(DumpPath)!, true); }
                else if (File.Exists(DumpPath)) File.Delete(DumpPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }

        public void Dispose()
        {
            Work?.Dispose();
            Live?.Dispose();
        }
    }
}
