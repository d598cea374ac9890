using System.Globalization;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Status;
using BackupTools.Model;
using Cronos;
using MySqlConnector;

namespace BackupTools.Engine.Targets;

/// <summary>
/// Readiness, not just reachability (as pgbackrest check and barman check do): everything the first scheduled run of a
/// target needs, one finding per check with its level and the fix. MariaDB: binary log on, ROW format, FULL row image,
/// the backup account's privileges, log expiry longer than the archive interval, the binlog directory visible here,
/// room in the repository for a full backup. Redis: an ACL that allows SYNC/PSYNC, room for a dump. Elasticsearch: the
/// snapshot repository exists (or can be registered) and verifies on every node.
/// </summary>
public static class ReadinessCheck
{
    private static readonly string[] MariaBackupPrivileges = ["RELOAD", "PROCESS", "LOCK TABLES", "BINLOG MONITOR"];

    public static async Task<IReadOnlyList<ReadinessFinding>> RunAsync(TargetPolicy target, string? password, string repositoryRoot,
        TimeSpan timeout, CancellationToken ct)
    {
        var findings = new List<ReadinessFinding>();
        void Add(string check, ReadinessLevel level, string detail, string? fix = null) =>
            findings.Add(new ReadinessFinding { Target = target.Name, Check = check, Level = level, Detail = detail, Fix = fix });
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout * 4);
        try
        {
            await Engines.EngineRegistry.For(target).ReadinessAsync(target, password, repositoryRoot, timeout, Add, deadline.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Add("reachable", ReadinessLevel.Error, $"no answer from {target.Endpoint} within {(timeout * 4).TotalSeconds:0} s", "Check that the server runs and the address in the policy is right.");
        }
        catch (Exception e) when (e is MySqlException or RedisConnectException or RedisAuthException or RedisReplyException or IOException
                                      or HttpRequestException or System.Net.Sockets.SocketException or EsRequestException)
        {
            Add("reachable", ReadinessLevel.Error, e.Message, "Test-BackupTarget shows whether the server answers and accepts the login.");
        }
        return findings;
    }

    internal static async Task MariaDbAsync(TargetPolicy target, string? password, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct)
    {
        await using var c = MariaDbConnections.Create(target, password, timeout);
        await c.OpenAsync(ct);
        var vars = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using (var q = new MySqlCommand("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'log_bin_basename', 'binlog_format', " +
                                              "'binlog_row_image', 'expire_logs_days', 'binlog_expire_logs_seconds', 'datadir')", c))
        await using (var r = await q.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) vars[r.GetString(0)] = r.IsDBNull(1) ? "" : r.GetString(1);
        var binlogScheduled = target.Schedule.ContainsKey("binlog");
        if (vars.GetValueOrDefault("log_bin") is not ("ON" or "1"))
            add("binary log", binlogScheduled ? ReadinessLevel.Error : ReadinessLevel.Warning,
                "binary logging is off: no binary log to archive, so no point-in-time restore",
                "In [mariadbd]: log_bin = /var/log/mysql/mariadb-bin and binlog_format = ROW, then restart the server.");
        else
        {
            add("binary log", ReadinessLevel.Ok, $"on, basename {vars.GetValueOrDefault("log_bin_basename")}", null);
            var format = vars.GetValueOrDefault("binlog_format") ?? "";
            // STATEMENT replays nondeterministic statements differently: an Error. MIXED (MariaDB's default) logs the
            // unsafe ones as rows, but the manual this module follows requires ROW: a Warning.
            add("binlog_format", format == "ROW" ? ReadinessLevel.Ok : format == "MIXED" ? ReadinessLevel.Warning : ReadinessLevel.Error,
                format == "ROW" ? "ROW" : $"{format}: statement-based events replay nondeterministic statements (NOW(), UUID(), LIMIT without ORDER BY) differently, so a restore can differ from what was committed",
                format == "ROW" ? null : "SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW in [mariadbd], so it survives a restart.");
            var image = vars.GetValueOrDefault("binlog_row_image") ?? "FULL";
            add("binlog_row_image", image == "FULL" ? ReadinessLevel.Ok : ReadinessLevel.Warning,
                image == "FULL" ? "FULL" : $"{image}: rows are logged partially, which replay handles but other tools reading the log may not",
                image == "FULL" ? null : "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image = FULL in [mariadbd].");
            var basename = vars.GetValueOrDefault("log_bin_basename");
            var dir = basename is null ? null : Path.GetDirectoryName(basename);
            add("binlog directory", dir is not null && Directory.Exists(dir) ? ReadinessLevel.Ok : binlogScheduled ? ReadinessLevel.Error : ReadinessLevel.Warning,
                dir is not null && Directory.Exists(dir) ? $"{dir} is readable here" : $"{dir} is not visible on this host, so binary logs cannot be archived from here",
                dir is not null && Directory.Exists(dir) ? null : "Run the binlog schedule on the database host, or mount the binlog directory read-only here.");
            ExpiryCheck(target, vars, add);
        }
        var granted = new List<string>();
        await using (var q = new MySqlCommand("SHOW GRANTS", c))
        await using (var r = await q.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
            {
                // "GRANT RELOAD, PROCESS ON *.* TO `backup`@`localhost` IDENTIFIED BY PASSWORD '…'": only the part before ON is read.
                var line = r.GetString(0);
                var on = line.IndexOf(" ON *.* ", StringComparison.Ordinal);
                if (line.StartsWith("GRANT ", StringComparison.Ordinal) && on > 6) granted.AddRange(line[6..on].Split(',', StringSplitOptions.TrimEntries));
            }
        var all = granted.Contains("ALL PRIVILEGES") || granted.Contains("ALL");
        // REPLICATION CLIENT is BINLOG MONITOR's old name (10.5.2 shows the new one); SUPER no longer implies it.
        var missing = MariaBackupPrivileges.Where(p => !all && !granted.Contains(p) && !(p == "BINLOG MONITOR" && granted.Contains("REPLICATION CLIENT"))).ToList();
        add("privileges", missing.Count == 0 ? ReadinessLevel.Ok : ReadinessLevel.Error,
            missing.Count == 0 ? "the login has what mariabackup and binlog archiving need" : $"the login lacks {string.Join(", ", missing)}",
            missing.Count == 0 ? null : $"GRANT {string.Join(", ", missing)} ON *.* TO '{target.User ?? "backup"}'@'localhost';");
        // stream: the binary-log stream connects as a replica: without REPLICATION SLAVE its service would only ever retry.
        if (target.Stream)
        {
            var canStream = all || granted.Contains("REPLICATION SLAVE") || granted.Contains("REPLICATION REPLICA");
            add("stream privilege", canStream ? ReadinessLevel.Ok : ReadinessLevel.Error,
                canStream ? "the login may connect as a replica (stream:)" : "the policy streams the binary logs (stream:), but the login lacks REPLICATION SLAVE",
                canStream ? null : $"GRANT REPLICATION SLAVE ON *.* TO '{target.User ?? "backup"}'@'localhost';");
        }
        var dataDir = target.DataDir ?? vars.GetValueOrDefault("datadir");
        RoomCheck(repositoryRoot, dataDir is not null && Directory.Exists(dataDir) ? DirectorySize(dataDir) : null, "the data directory", add);
    }

    /// <summary>Binary logs must live on the server longer than the time between two archive runs, or some vanish unarchived.</summary>
    private static void ExpiryCheck(TargetPolicy target, IReadOnlyDictionary<string, string> vars, Action<string, ReadinessLevel, string, string?> add)
    {
        var seconds = long.TryParse(vars.GetValueOrDefault("binlog_expire_logs_seconds"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0 ? s
            : double.TryParse(vars.GetValueOrDefault("expire_logs_days"), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d > 0 ? (long)(d * 86400) : 0;
        if (!target.Schedule.TryGetValue("binlog", out var cron))
        {
            add("binlog archiving", ReadinessLevel.Warning, "the target has no binlog schedule: a point-in-time restore needs archived binary logs",
                $"Add binlog: \"*/15 * * * *\" to targets.{target.Name}.schedule.");
            return;
        }
        var interval = LongestGap(cron);
        if (seconds == 0)
            add("binlog expiry", ReadinessLevel.Ok, $"the server never expires binary logs; they are archived every {Describe(interval)} at most", null);
        else if (TimeSpan.FromSeconds(seconds) < interval * 2)
            add("binlog expiry", ReadinessLevel.Error,
                $"the server removes binary logs after {Describe(TimeSpan.FromSeconds(seconds))}, but they are archived only every {Describe(interval)}: logs can vanish before they are archived",
                $"SET GLOBAL binlog_expire_logs_seconds = {(long)(interval * 4).TotalSeconds}; (and in [mariadbd]), or archive more often.");
        else
            add("binlog expiry", ReadinessLevel.Ok, $"kept {Describe(TimeSpan.FromSeconds(seconds))}, archived every {Describe(interval)} at most", null);
    }

    /// <summary>The longest time between two runs of a cron schedule over the next two weeks.</summary>
    public static TimeSpan LongestGap(string cron)
    {
        var expression = CronExpression.Parse(cron);
        var from = new DateTime(2026, 1, 5, 0, 0, 0, DateTimeKind.Utc); // a fixed Monday: the answer must not depend on today
        var runs = expression.GetOccurrences(from, from.AddDays(14), TimeZoneInfo.Utc).ToList();
        return runs.Count < 2 ? TimeSpan.FromDays(14) : runs.Zip(runs.Skip(1), (a, b) => b - a).Max();
    }

    internal static async Task RedisAsync(TargetPolicy target, string? password, string repositoryRoot, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct)
    {
        await using var c = await RespConnection.OpenAsync(target, password, timeout, ct);
        var user = target.User ?? "default";
        foreach (var command in new[] { "SYNC", "PSYNC" })
        {
            try
            {
                string[] args = command == "PSYNC" ? ["ACL", "DRYRUN", user, "PSYNC", "?", "-1"] : ["ACL", "DRYRUN", user, "SYNC"];
                var reply = await c.CommandAsync(ct, args);
                var ok = reply is string text && text == "OK";
                add($"ACL {command}", ok ? ReadinessLevel.Ok : ReadinessLevel.Error,
                    ok ? $"user {user} may run {command}" : $"user {user} may not run {command}: {reply}",
                    ok ? null : $"ACL SETUSER {user} +sync +psync +replconf   (or back it up with -Method Bgsave and a readable dataDir)");
            }
            catch (RedisReplyException e) when (e.Message.Contains("unknown", StringComparison.OrdinalIgnoreCase) && !e.Message.Contains("User", StringComparison.Ordinal))
            {
                // Redis before 7 has no ACL DRYRUN: nothing to check with; the first backup shows it.
                add($"ACL {command}", ReadinessLevel.Warning, $"cannot be checked on this server ({e.Message})", null);
                break;
            }
            catch (RedisReplyException e) when (e.Message.Contains("NOPERM", StringComparison.Ordinal))
            {
                // The user may not ask ACL DRYRUN itself: that says nothing about SYNC. The first backup shows it.
                add($"ACL {command}", ReadinessLevel.Warning, $"cannot be checked: user {user} may not run ACL DRYRUN", $"ACL SETUSER {user} +acl|dryrun   (optional: lets this check run)");
                break;
            }
            catch (RedisReplyException e)
            {
                add($"ACL {command}", ReadinessLevel.Error, $"user {user}: {e.Message}", $"ACL SETUSER {user} on >password +sync +psync +replconf");
            }
        }
        var memory = await c.InfoAsync("memory", ct);
        RoomCheck(repositoryRoot, long.TryParse(memory.GetValueOrDefault("used_memory"), NumberStyles.None, CultureInfo.InvariantCulture, out var used) ? used : null, "the dataset", add);
    }

    internal static async Task ElasticsearchAsync(TargetPolicy target, string? password, TimeSpan timeout,
        Action<string, ReadinessLevel, string, string?> add, CancellationToken ct)
    {
        var es = EsConnection.Create(target, password, timeout);
        var repo = target.SnapshotRepository!;
        var (status, _) = await es.GetAsync($"/_snapshot/{repo}", ct);
        if (status == 404)
        {
            add("snapshot repository", target.SnapshotRepositorySettings.Count > 0 ? ReadinessLevel.Warning : ReadinessLevel.Error,
                target.SnapshotRepositorySettings.Count > 0 ? $"'{repo}' is not registered yet; the first backup registers it from snapshotRepositorySettings"
                                                           : $"the cluster has no snapshot repository '{repo}'",
                $"PUT _snapshot/{repo} {{ \"type\": \"fs\", \"settings\": {{ \"location\": \"/mnt/es-backups\" }} }}, or snapshotRepositorySettings in the policy.");
            return;
        }
        var (verify, body) = await es.PostAsync($"/_snapshot/{repo}/_verify", null, ct);
        add("snapshot repository", verify is >= 200 and < 300 ? ReadinessLevel.Ok : ReadinessLevel.Error,
            verify is >= 200 and < 300 ? $"'{repo}' exists and verifies on {(body?["nodes"] as System.Text.Json.Nodes.JsonObject)?.Count ?? 0} node(s)"
                                       : $"'{repo}' does not verify (HTTP {verify}): {(body?["error"] is System.Text.Json.Nodes.JsonObject error ? error["reason"] : body?["error"])}",
            verify is >= 200 and < 300 ? null : "Every node must be able to write to the repository's location (path.repo, permissions, credentials).");
    }

    private static void RoomCheck(string repositoryRoot, long? needed, string what, Action<string, ReadinessLevel, string, string?> add)
    {
        if (needed is null) return;
        var (_, free) = StatusService.FileSystemSpace(repositoryRoot);
        add("repository space", free >= needed ? ReadinessLevel.Ok : ReadinessLevel.Warning,
            $"{BackupStatusCalculator.Bytes(free)} free in {repositoryRoot}; {what} is {BackupStatusCalculator.Bytes(needed.Value)} before compression",
            free >= needed ? null : "Free space on the repository's file system, or move the repository: a full backup may not fit.");
    }

    private static long DirectorySize(string path)
    {
        try { return new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return 0; }
    }

    private static string Describe(TimeSpan t) => t.TotalDays >= 1 ? $"{t.TotalDays:0.#} days" : t.TotalHours >= 1 ? $"{t.TotalHours:0.#} hours" : $"{t.TotalMinutes:0} minutes";
}
