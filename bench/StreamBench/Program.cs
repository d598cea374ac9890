// bench/BinlogStream.Bench.ps1 runs this: "rpo <kills>" or "cpu <runs>", with the pwsh launcher and the module path.
// Prints one JSON object of measurements on its last line.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BackupTools.Engine.MariaDb;
using BackupTools.TestServers;
using MySqlConnector;

var mode = args[0];
var count = int.Parse(args[1], CultureInfo.InvariantCulture);
var launcher = args[2].Split('|');
var module = args[3];
var work = Path.Combine(Path.GetTempPath(), "bt-bench-stream-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(work);
using var server = MariaDbServer.Start(Path.Combine(work, "db"));
try
{
    server.Sql("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'localhost'; CREATE DATABASE bench;" +
               "CREATE TABLE bench.w (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; CREATE TABLE bench.big (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;" +
               "CREATE USER 'writer'@'localhost' IDENTIFIED BY 'bench'; GRANT ALL ON bench.* TO 'writer'@'localhost';");
    var secret = Path.Combine(work, "db.password");
    File.WriteAllText(secret, server.BackupPassword);
    if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    var policy = Path.Combine(work, "policy.yml");
    File.WriteAllText(policy, $"repository: {work}/repo\ntargets:\n  bench-db:\n    engine: mariadb\n    socket: {server.Socket}\n    user: backup\n" +
                              $"    passwordFile: {secret}\n    stream: {{ maxLag: 10s }}\nstorage: {{ compression: none }}\nalerts: {{ channels: {{}} }}\n");
    var streamDir = Path.Combine(work, "repo", "_stream", "bench-db");
    Console.WriteLine(JsonSerializer.Serialize(mode == "rpo" ? await RpoAsync() : await CpuAsync()));

    // Start-BinlogStream in a child pwsh, as its service runs it.
    Process StartOurs()
    {
        var psi = new ProcessStartInfo(launcher[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in launcher.Skip(1)) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "-NoProfile", "-NonInteractive", "-Command", $"Import-Module '{module}'; Start-BinlogStream bench-db -Policy '{policy}'" }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    async Task Until(Func<bool> ok, string what, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (!ok())
        {
            if (clock.Elapsed.TotalSeconds > seconds) throw new TimeoutException(what);
            await Task.Delay(50);
        }
    }

    (string File, long Size) ServerPosition()
    {
        var row = server.Sql("SHOW MASTER STATUS").Trim().Split('\t');
        return (row[0], long.Parse(row[1], CultureInfo.InvariantCulture));
    }

    bool CaughtUp(string dir)
    {
        var (file, size) = ServerPosition();
        var path = Path.Combine(dir, file);
        return File.Exists(path) && new FileInfo(path).Length >= size;
    }

    async Task<object> RpoAsync()
    {
        var ours = StartOurs();
        var ages = new List<double>();
        var lostCounts = new List<int>();
        var commits = 0;
        try
        {
            await Until(() => CaughtUp(streamDir), "the stream running");
            var random = new Random(7);
            var id = 0;
            for (var kill = 0; kill < count; kill++)
            {
                var acked = new List<(ulong Seq, DateTime At)>();
                using var stop = new CancellationTokenSource();
                var writer = Task.Run(async () =>
                {
                    await using var c = new MySqlConnection($"Server={server.Socket};Protocol=Unix;User ID=writer;Password=bench;Pooling=false");
                    await c.OpenAsync();
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            await using var insert = new MySqlCommand($"INSERT INTO bench.w VALUES ({++id}, 'row {id}'); SELECT @@last_gtid;", c);
                            var gtid = (string)(await insert.ExecuteScalarAsync())!;
                            var at = DateTime.UtcNow;
                            acked.Add((ulong.Parse(gtid.Split('-')[2], CultureInfo.InvariantCulture), at));
                            await Task.Delay(10);
                        }
                        catch (Exception) { break; } // the server was killed
                    }
                });
                await Task.Delay(TimeSpan.FromMilliseconds(1500 + random.Next(1500)));
                var killedAt = DateTime.UtcNow;
                server.Kill();
                stop.Cancel();
                await writer;
                await Task.Delay(1500); // the stream's host lives on: what it has by now is what a restore gets
                var file = BinlogStream.Streamed(streamDir, "mariadb-bin").Last();
                var held = StreamedBinlogs.AddTo(Path.Combine(work, "repo"), "bench-db", BinlogHistory.Load(Path.Combine(work, "repo"), "bench-db"))
                    .Single(e => e.Manifest.EngineFields[EngineFieldNames.BinlogFile] == file);
                var state = held.Manifest.EngineFields[EngineFieldNames.GtidStateAtEnd];
                var last = state.Split(',').Select(g => g.Split('-')).Where(g => g[0] == "0" && g[1] == "1").Select(g => ulong.Parse(g[2], CultureInfo.InvariantCulture)).Single();
                var lost = acked.Where(a => a.Seq > last).ToList();
                commits += acked.Count;
                lostCounts.Add(lost.Count);
                ages.Add(lost.Count == 0 ? 0 : (killedAt - lost.Min(a => a.At)).TotalSeconds);
                Console.Error.WriteLine($"kill {kill + 1}: {acked.Count} commits, {lost.Count} lost, oldest lost {ages[^1] * 1000:0} ms before the kill");
                server.Restart();
                await Until(() => CaughtUp(streamDir), "the stream reconnected after the restart");
            }
        }
        finally
        {
            ours.Kill(entireProcessTree: true);
        }
        var sorted = ages.Order().ToList();
        return new { kills = count, commits, lostCommits = lostCounts.Sum(), p50 = sorted[sorted.Count / 2], p100 = sorted[^1], ages = sorted };
    }

    async Task<object> CpuAsync()
    {
        var rawDir = Path.Combine(work, "raw");
        Directory.CreateDirectory(rawDir);
        // A third side: mariadb-binlog plus an fsync of its newest file once a second (coreutils sync FILE): the raw
        // tool made as durable as ours, to tell the stream's own overhead from the cost of the fsync itself.
        var syncedDir = Path.Combine(work, "raw-synced");
        Directory.CreateDirectory(syncedDir);
        var syncedCpu = new List<double>();
        var syncedRatios = new List<double>();
        var options = Path.Combine(work, "raw.cnf");
        File.WriteAllText(options, $"[client]\nuser=backup\npassword={server.BackupPassword}\nsocket={server.Socket}\n");
        var ratios = new List<double>();
        var oursCpu = new List<double>();
        var rawCpu = new List<double>();
        var pwshShare = new List<double>();
        var seconds = new List<double>();
        var idle = new List<double>();
        long bytes = 0;
        for (var run = 0; run < count; run++)
        {
            server.Sql("TRUNCATE bench.big; FLUSH BINARY LOGS;");
            var start = ServerPosition().File;
            foreach (var f in Directory.EnumerateFiles(rawDir).Concat(Directory.EnumerateFiles(syncedDir))) File.Delete(f);
            // Alternate which starts first; both run through the same load at the same time.
            Process? ours = null, raw = null;
            Process StartRaw(string dir, int serverId)
            {
                var psi = new ProcessStartInfo("mariadb-binlog") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { $"--defaults-extra-file={options}", "--read-from-remote-server", "--raw", "--stop-never", $"--stop-never-slave-server-id={serverId}", $"--result-file={dir}/", start }) psi.ArgumentList.Add(a);
                var p = Process.Start(psi)!;
                _ = p.StandardOutput.ReadToEndAsync();
                _ = p.StandardError.ReadToEndAsync();
                return p;
            }
            if (run % 2 == 0) { ours = StartOurs(); raw = StartRaw(rawDir, 77); } else { raw = StartRaw(rawDir, 77); ours = StartOurs(); }
            var synced = StartRaw(syncedDir, 78);
            var syncLoop = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"while sleep 1; do for f in '{syncedDir}'/mariadb-bin.*; do :; done; sync \"$f\"; done"]))!;
            try
            {
                await Until(() => CaughtUp(streamDir) && CaughtUp(rawDir) && CaughtUp(syncedDir), "the streams running");
                // A service that runs for days has received before: one transaction of the same rows first (measured: the
                // first burst after the start costs about 0.1 s of .NET compiling the receive path to its final code,
                // once per process).
                server.Sql("USE bench; INSERT INTO bench.big SELECT seq, REPEAT(SHA2(RAND(), 256), 16) FROM seq_1000001_to_1020000;");
                await Until(() => CaughtUp(streamDir) && CaughtUp(rawDir) && CaughtUp(syncedDir), "the warm-up received", 120);
                // The steady state a service runs in for days: past pwsh's start (module load, first compilations) and past
                // .NET's tiered compilation of the stream's once-a-second loop (recompiled after 30 calls; measured: an
                // idle pwsh used 0.10 s a 10 s at 5 s from its start, 0.02 s at 40 s).
                await Task.Delay(40000);
                // Ours: the pwsh, and its mariadb-binlog when it runs one (stream.client: mariadb-binlog).
                var oursTool = Children(ours.Id).SingleOrDefault();
                double ToolCpu() => oursTool == 0 ? 0 : Cpu(oursTool);
                var idleFrom = Cpu(ours.Id);
                await Task.Delay(10000); // the stream with nothing to receive: its own cost a second
                idle.Add((Cpu(ours.Id) - idleFrom) / 10);
                var before = (Cpu(ours.Id) + ToolCpu(), Cpu(raw.Id));
                var (pwshBefore, toolBefore) = (Cpu(ours.Id), ToolCpu());
                var syncedBefore = Cpu(synced.Id) + Cpu(syncLoop.Id, withChildren: true);
                var window = Stopwatch.StartNew();
                var from = ServerPosition();
                // The write-heavy load: 10 transactions of 20,000 rows of 1 KB (about 200 MB of binary log).
                for (var i = 0; i < 10; i++)
                    server.Sql($"USE bench; INSERT INTO bench.big SELECT seq, REPEAT(SHA2(RAND(), 256), 16) FROM seq_{i * 20000 + 1}_to_{(i + 1) * 20000};");
                await Until(() => CaughtUp(streamDir) && CaughtUp(rawDir) && CaughtUp(syncedDir), "the streams caught up", 300);
                await Task.Delay(1500); // ours' once-a-second work on the grown file (its fsync, its state) is counted too
                var after = (Cpu(ours.Id) + ToolCpu(), Cpu(raw.Id));
                var syncedUsed = Cpu(synced.Id) + Cpu(syncLoop.Id, withChildren: true) - syncedBefore;
                bytes = ServerPosition().Size - from.Size;
                var o = after.Item1 - before.Item1;
                var r = after.Item2 - before.Item2;
                oursCpu.Add(o);
                rawCpu.Add(r);
                ratios.Add(o / r);
                syncedCpu.Add(syncedUsed);
                syncedRatios.Add(o / syncedUsed);
                Console.Error.WriteLine($"run {run + 1}: {bytes / 1e6:0} MB of binlog in {window.Elapsed.TotalSeconds:0.0} s; CPU ours {o:0.00} s " +
                                        $"(pwsh {Cpu(ours.Id) - pwshBefore:0.00} s, its mariadb-binlog {ToolCpu() - toolBefore:0.00} s), mariadb-binlog alone {r:0.00} s, with a sync a second {syncedUsed:0.00} s");
                pwshShare.Add(Cpu(ours.Id) - pwshBefore);
                seconds.Add(window.Elapsed.TotalSeconds);
            }
            finally
            {
                ours.Kill(entireProcessTree: true);
                raw.Kill();
                synced.Kill();
                syncLoop.Kill(entireProcessTree: true);
                ours.WaitForExit();
                raw.WaitForExit();
                synced.WaitForExit();
                syncLoop.WaitForExit();
            }
        }
        return new { runs = count, binlogBytes = bytes, ours = oursCpu, raw = rawCpu, ratios, pwsh = pwshShare, seconds, idle, synced = syncedCpu, syncedRatios };
    }

    // utime + stime of a process (and of its children it waited for), in seconds (clock ticks of 1/100 s).
    static double Cpu(int pid, bool withChildren = false)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        if (withChildren) ticks += long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
        return ticks / 100.0;
    }

    static IEnumerable<int> Children(int pid) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(int.Parse!)
            .Where(p =>
            {
                try { var s = File.ReadAllText($"/proc/{p}/stat"); return s[(s.LastIndexOf(')') + 2)..].Split(' ')[1] == pid.ToString(CultureInfo.InvariantCulture); }
                catch (IOException) { return false; }
            })
            .Where(p => File.ReadAllText($"/proc/{p}/cmdline").Contains("mariadb-binlog", StringComparison.Ordinal));
}
finally
{
    server.Dispose();
    try { Directory.Delete(work, true); } catch (IOException) { }
}
