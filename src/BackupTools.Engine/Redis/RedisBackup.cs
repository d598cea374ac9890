using System.Globalization;
using System.IO.Pipelines;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Redis;

/// <summary>How a Redis snapshot is taken.</summary>
public enum RedisBackupMethod
{
    /// <summary>The replication handshake, as <c>redis-cli --rdb</c> does it: needs no access to the server's files.</summary>
    Replication,
    /// <summary>BGSAVE on the server, then a copy of its dump file from the local dataDir.</summary>
    Bgsave,
}

/// <summary>
/// Redis snapshots: the RDB dump streams through compression and SHA-256 into a new backup set while a second core
/// walks it (<see cref="RdbInspector"/>: header, every value, key counts per database, CRC-64 trailer). A dump that
/// does not check out is never published; a dump newer than the walker whose CRC-64 matches is published with
/// Checked = Checksum and a warning (a current server must not be left without backups).
/// </summary>
public static class RedisBackup
{
    public const string Engine = "redis";
    public const string Snapshot = "snapshot";
    public const string DumpFileName = "dump.rdb";

    public static Task<BackupAttempt> RunAsync(BackupRequest request, RedisBackupMethod method, CancellationToken ct) =>
        BackupRecords.AttemptAsync(request, Engine, Snapshot, run => BackupAsync(run, request, method, ct), ct);

    private static async Task<BackupManifest> BackupAsync(BackupRun run, BackupRequest request, RedisBackupMethod method, CancellationToken ct)
    {
        var target = request.Target;
        await using var connection = await RespConnection.OpenAsync(target, request.Password, TimeSpan.FromSeconds(15), ct);
        // The server facts come over a second connection while the fork starts: SYNC is not kept waiting for them.
        var facts = ServerFactsAsync(target, request.Password, ct);
        Stream payload;
        long? total = null;
        if (method == RedisBackupMethod.Replication)
            (payload, total) = await StartReplicationDumpAsync(connection, target.User, ct);
        else
        {
            await facts;
            var path = await BgsaveAsync(connection, target, request.Log, ct);
            payload = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            total = payload.Length;
        }
        var (version, aof) = await facts;
        request.Log?.Invoke($"Redis {version} at {connection.Endpoint}: AOF {(aof ? "on" : "off")}; method {method}");

        RdbSummary summary;
        await using (payload)
        {
            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20, useSynchronizationContext: false));
            var inspection = Task.Run(() =>
            {
                using var copy = pipe.Reader.AsStream();
                return RdbInspector.Inspect(copy);
            }, ct);
            try
            {
                await run.Writer.AddFileAsync(DumpFileName, new TeeReadStream(payload, pipe.Writer), request.Compression, request.Progress, ct, total);
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                if (e is InspectionStoppedException) await inspection; // throws the inspector's own reason
                throw;
            }
            summary = await inspection;
        }
        if (summary.Checked == CheckDepth.Full)
            request.Log?.Invoke($"Dump checked: {summary.Header}, {summary.TotalKeys} keys in {summary.Databases.Count} database(s), CRC-64 {(summary.ChecksumPresent ? "matches" : "absent (rdbchecksum no)")}");
        else
            request.Warn?.Invoke($"{request.Target.Name}: {summary.Unwalked}");

        // Only a walked dump has counts; one newer than the walker is kept on its checksum, without them.
        if (summary.Checked == CheckDepth.Full && summary.TotalKeys == 0 && !request.Target.AllowEmpty
            && BackupCatalog.List(request.RepositoryRoot, Engine, request.Target.Name, Snapshot).FirstOrDefault() is { } previous
            && long.TryParse(previous.Manifest.EngineFields.GetValueOrDefault(RedisFields.TotalKeys), NumberStyles.None, CultureInfo.InvariantCulture, out var before) && before > 0)
            throw new EmptyBackupException(request.Target.Name,
                $"the dump holds 0 keys in every database, but the previous snapshot {previous.Manifest.Id} held {before} (was the server flushed or replaced?)");

        var fields = new Dictionary<string, string>
        {
            [RedisFields.Method] = method.ToString(),
            [RedisFields.AofEnabled] = aof ? "true" : "false",
            [RedisFields.RdbVersion] = summary.Version.ToString(CultureInfo.InvariantCulture),
            [RedisFields.RdbDialect] = summary.Header.Dialect.ToString(),
            [RedisFields.Checksum] = summary.ChecksumPresent ? "crc64" : "none",
            [RedisFields.Checked] = summary.Checked.ToString(),
        };
        if (summary.Checked == CheckDepth.Full)
        {
            fields[RedisFields.TotalKeys] = summary.TotalKeys.ToString(CultureInfo.InvariantCulture);
            foreach (var d in summary.Databases) RedisFields.WriteDatabase(fields, d);
        }
        else fields[RedisFields.CheckWarning] = summary.Unwalked!;
        return await run.CommitAsync(m => m with
        {
            ServerVersion = version, ToolVersion = summary.Header.ToString(), EngineFields = fields,
        }, request.Progress, ct);
    }

    private static async Task<(string? Version, bool Aof)> ServerFactsAsync(Model.TargetPolicy target, string? password, CancellationToken ct)
    {
        await using var connection = await RespConnection.OpenAsync(target, password, TimeSpan.FromSeconds(15), ct);
        var server = await connection.InfoAsync("server", ct);
        var persistence = await connection.InfoAsync("persistence", ct);
        return (server.GetValueOrDefault("redis_version"), persistence.GetValueOrDefault("aof_enabled") == "1");
    }

    /// <summary>
    /// REPLCONF capa eof (so the server streams the dump from memory instead of writing it to its own disk first),
    /// REPLCONF rdb-only 1 (Redis 7: no replication stream after the dump), SYNC; then the payload.
    /// </summary>
    private static async Task<(Stream Payload, long? Length)> StartReplicationDumpAsync(RespConnection connection, string? user, CancellationToken ct)
    {
        try
        {
            await connection.CommandAsync(ct, "REPLCONF", "capa", "eof");
            try { await connection.CommandAsync(ct, "REPLCONF", "rdb-only", "1"); }
            catch (RedisReplyException e) when (e.Code == "ERR") { } // before Redis 7.0: the stream after the dump is simply not read
            await connection.SendAsync(ct, "SYNC");
            string line;
            do line = await connection.ReadLineAsync(ct); // newlines are keep-alives while the server forks
            while (line.Length == 0);
            if (line.StartsWith('-')) throw new RedisReplyException("SYNC", line[1..]);
            if (line.StartsWith("$EOF:", StringComparison.Ordinal) && line.Length == 5 + 40)
                return (new EofMarkedStream(connection.RawStream, line[5..]), null);
            if (line.StartsWith('$') && long.TryParse(line[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
                return (new LengthLimitedStream(connection.RawStream, length), length);
            throw new InvalidDataException($"Redis at {connection.Endpoint} answered SYNC with '{line}', not a dump.");
        }
        catch (RedisReplyException e) when (e.Code == "NOPERM")
        {
            throw new RedisPermissionException(
                $"Redis at {connection.Endpoint} does not let {(user is null ? "this login" : $"user '{user}'")} take a replication dump: {e.Reply}. " +
                $"Grant it (ACL SETUSER {user ?? "<user>"} +sync +psync +replconf), or use -Method Bgsave with the policy's dataDir on this host.");
        }
    }

    /// <summary>BGSAVE, wait until it is done and succeeded, and return the dump file's path.</summary>
    private static async Task<string> BgsaveAsync(RespConnection connection, Model.TargetPolicy target, Action<string>? log, CancellationToken ct)
    {
        var dir = await connection.ConfigGetAsync("dir", ct) ?? target.DataDir;
        var file = await connection.ConfigGetAsync("dbfilename", ct) ?? DumpFileName;
        if (target.DataDir is not null) dir = target.DataDir;
        if (dir is null)
            throw new RedisBackupException($"Target '{target.Name}' has no dataDir in the policy and CONFIG GET dir is not allowed, so -Method Bgsave cannot find the dump. Add dataDir, or use -Method Replication.");
        var path = Path.Combine(dir, file);
        // "Background saving started" means the fork happened before the reply, so from then on in_progress:0 means
        // our save has ended; "scheduled" (an AOF rewrite runs) means it has not begun yet.
        bool started;
        while (true)
        {
            try
            {
                var reply = (string?)await connection.CommandAsync(ct, "BGSAVE") ?? "";
                log?.Invoke($"BGSAVE: {reply}");
                started = reply.Contains("started", StringComparison.OrdinalIgnoreCase);
                break;
            }
            catch (RedisReplyException e) when (e.Reply.Contains("already in progress", StringComparison.OrdinalIgnoreCase))
            {
                await Task.Delay(200, ct); // someone else's save: ours must start after it, to be at least as new as now
            }
        }
        while (true)
        {
            var info = await connection.InfoAsync("persistence", ct);
            var inProgress = info.GetValueOrDefault("rdb_bgsave_in_progress") == "1";
            if (inProgress) started = true;
            else if (started)
            {
                if (info.GetValueOrDefault("rdb_last_bgsave_status") == "ok") break;
                throw new RedisBackupException(
                    $"BGSAVE failed on Redis at {connection.Endpoint} (rdb_last_bgsave_status:err). The server's log says why; the usual causes are " +
                    "'fork: Cannot allocate memory' (set vm.overcommit_memory=1 or free memory) and a full or read-only disk under its dir. " +
                    "While saves fail, Redis refuses writes with MISCONF when stop-writes-on-bgsave-error is on. -Method Replication needs no fork to disk.");
            }
            await Task.Delay(50, ct);
        }
        if (!File.Exists(path))
            throw new RedisBackupException($"BGSAVE finished, but '{path}' does not exist on this host. Is dataDir the server's dir ({dir})?");
        return path;
    }
}

public sealed class RedisBackupException(string message) : Exception(message);
public sealed class RedisPermissionException(string message) : Exception(message);

/// <summary>Names of the Redis fields in a manifest's engineFields.</summary>
public static class RedisFields
{
    public const string Method = "method";
    public const string AofEnabled = "aofEnabled";
    public const string RdbVersion = "rdbVersion";
    public const string RdbDialect = "rdbDialect";
    public const string TotalKeys = "keys";
    public const string Checksum = "checksum";
    /// <summary>Full, Checksum or Header (<see cref="CheckDepth"/>); manifests from before it was recorded were all walked in full.</summary>
    public const string Checked = "checked";
    /// <summary>Why a dump was kept without being walked in full.</summary>
    public const string CheckWarning = "checkWarning";

    public static void WriteDatabase(IDictionary<string, string> fields, RdbDatabase d)
    {
        fields[$"db{d.Index}.keys"] = d.Keys.ToString(CultureInfo.InvariantCulture);
        fields[$"db{d.Index}.expires"] = d.Expires.ToString(CultureInfo.InvariantCulture);
        fields[$"db{d.Index}.fieldExpires"] = d.FieldExpires.ToString(CultureInfo.InvariantCulture);
        if (d.EarliestExpiry is { } e) fields[$"db{d.Index}.earliestExpiry"] = BackupRecords.FormatTime(e);
    }

    public static CheckDepth ReadChecked(IReadOnlyDictionary<string, string> fields) =>
        Enum.TryParse<CheckDepth>(fields.GetValueOrDefault(Checked), ignoreCase: true, out var depth) ? depth : CheckDepth.Full;

    /// <summary>The per-database counts as the cmdlets show them.</summary>
    public static IReadOnlyList<KeyspaceDatabase> ReadKeyspace(IReadOnlyDictionary<string, string> fields) =>
        ReadDatabases(fields).Select(d => new KeyspaceDatabase(d.Index, d.Keys, d.Expires, d.FieldExpires)).ToList();

    public static IReadOnlyList<RdbDatabase> ReadDatabases(IReadOnlyDictionary<string, string> fields) =>
        fields.Keys.Where(k => k.StartsWith("db", StringComparison.Ordinal) && k.EndsWith(".keys", StringComparison.Ordinal))
            .Select(k => int.Parse(k[2..^5], CultureInfo.InvariantCulture))
            .Order()
            .Select(i => new RdbDatabase(i,
                long.Parse(fields[$"db{i}.keys"], CultureInfo.InvariantCulture),
                long.Parse(fields.GetValueOrDefault($"db{i}.expires", "0"), CultureInfo.InvariantCulture),
                fields.TryGetValue($"db{i}.earliestExpiry", out var t) ? DateTime.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal) : null,
                long.Parse(fields.GetValueOrDefault($"db{i}.fieldExpires", "0"), CultureInfo.InvariantCulture)))
            .ToList();
}
