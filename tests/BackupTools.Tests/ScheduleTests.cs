using System.Xml.Linq;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Scheduling;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>The jobs a policy becomes, the cron lines and their merge rules, and the Task Scheduler XML.</summary>
public sealed class ScheduleTests
{
    private static BackupPolicy Policy(string extra = "") => PolicyParser.Parse($"""
        repository: /backup
        targets:
          main-db:
            engine: mariadb
            socket: /run/mysqld/mysqld.sock
            schedule: {"{"} full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" {"}"}
          search:
            engine: elasticsearch
            url: http://127.0.0.1:9200
            snapshotRepository: backups
            schedule: {"{"} snapshot: "0 3 * * 1,4" {"}"}
        models:
          llm: {"{"} path: /models/llm {"}"}
        config: {"{"} paths: [/etc/nginx] {"}"}
        {extra}
        """, "/etc/backuptools/policy.yml").Policy!;

    [Fact]
    public void AnOffsiteAddsItsHourlyCopyItsWeeklyDrillPerCopiedTargetAndItsRetentionToTheDailyJob()
    {
        var policy = Policy("offsite:\n  away: { kind: azureBlob, connectionStringFile: /etc/backuptools/azure.conn, container: backups, copies: [main-db, llm] }\n" +
                            "encryption: { keyFile: /etc/backuptools/backup.key }");
        var jobs = ScheduleBuilder.Build(policy, "/opt/bt/BackupTools.psd1", null);
        var copy = jobs.Single(j => j.Name == "offsite-away");
        Assert.Equal(("40 * * * *", null), (copy.Schedule, copy.Target));
        Assert.Contains("Copy-BackupSet -Offsite \"away\" -Policy \"/etc/backuptools/policy.yml\" | Send-BackupAlert", copy.Script);
        var drill = jobs.Single(j => j.Name == "offsite-away-drill-main-db");
        Assert.Equal(("30 6 * * 0", "main-db"), (drill.Schedule, drill.Target));
        Assert.Contains("Test-DbBackup -Target \"main-db\" -Restore -Offsite \"away\"", drill.Script);
        Assert.DoesNotContain(jobs, j => j.Name.Contains("drill-search")); // not copied there (and no restore drill for snapshots kept on the cluster)
        Assert.Contains("; Remove-ExpiredBackup -Offsite \"away\" -Policy \"/etc/backuptools/policy.yml\" -Confirm:$false", jobs.Single(j => j.Name == "retention").Script);
    }

    [Fact]
    public void APolicyBecomesItsScheduleEntriesAndTheHousekeepingJobs()
    {
        var jobs = ScheduleBuilder.Build(Policy(), "/opt/bt/BackupTools.psd1", null);
        Assert.Equal(["main-db-binlog", "main-db-full", "main-db-incremental", "main-db-test-restore", "search-snapshot",
                      "retention", "status-alerts", "readiness", "config-files", "model-llm"], jobs.Select(j => j.Name));
        var full = jobs.Single(j => j.Name == "main-db-full");
        Assert.Equal(("0 2 * * *", "main-db"), (full.Schedule, full.Target));
        Assert.Contains("Start-DbBackup -Target \"main-db\" -Type Full -SkipIfBusy -Policy \"/etc/backuptools/policy.yml\" | Send-BackupAlert", full.Script);
        Assert.Contains("Import-Module \"/opt/bt/BackupTools.psd1\"", full.Script);
        Assert.EndsWith("exit [int]($Error.Count -gt 0)", full.Script);
        Assert.Equal("*/15 * * * *", jobs.Single(j => j.Name == "status-alerts").Schedule);
        Assert.Contains("Get-BackupStatus -Policy \"/etc/backuptools/policy.yml\" | Send-BackupAlert", jobs.Single(j => j.Name == "status-alerts").Script);
        Assert.Equal(["search-snapshot"], ScheduleBuilder.Build(Policy(), "/m.psd1", ["search"]).Select(j => j.Name));
        var metrics = ScheduleBuilder.Build(Policy("metrics: { path: /var/lib/node_exporter/backuptools.prom }"), "/m.psd1", null).Single(j => j.Name == "metrics");
        Assert.Equal(("*/5 * * * *", "Export-BackupMetric -Path \"/var/lib/node_exporter/backuptools.prom\" -Policy \"/etc/backuptools/policy.yml\""), (metrics.Schedule, metrics.Pipeline));
    }

    [Fact]
    public void PathsThatCannotPassThroughCronAreRefused()
    {
        var e = Assert.Throws<ScheduleException>(() => ScheduleBuilder.Build(Policy(), "/opt/it's/BackupTools.psd1", null));
        Assert.Contains("module path", e.Message);
    }

    [Fact]
    public void RegisteringAgainReplacesOnlyOurLinesAndKeepsForeignOnes()
    {
        var jobs = ScheduleBuilder.Build(Policy(), "/m.psd1", null);
        const string foreign = "17 1 * * * root /usr/local/bin/other-job # not ours";
        var lines = jobs.Select(j => CronTable.Line(j, ["/usr/bin/pwsh"], "/backup/_logs", "root", "/etc/backuptools/policy.yml")).ToList();
        var first = CronTable.Merge(foreign + "\n", lines, _ => true);
        var second = CronTable.Merge(first, lines, _ => true);
        Assert.Equal(first, second);
        Assert.StartsWith(foreign + "\n", first);
        Assert.EndsWith("\n", first);
        Assert.Equal(jobs.Count + 1, first.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        foreach (var line in first.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var fields = line.Split(' ');
            Assert.Equal("root", fields[5]);                  // cron.d lines carry a user field
            Assert.Equal("'/usr/bin/pwsh'", fields[6]);       // absolute: cron's PATH is minimal
            Assert.DoesNotContain('%', line);                 // '%' would be a newline to cron
        }
        var entries = CronTable.Read(first, hasUserField: true, DateTime.UtcNow);
        Assert.Equal(jobs.Select(j => j.Name), entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.NotNull(e.NextRun));

        Assert.All(entries, e => Assert.Equal("/etc/backuptools/policy.yml", e.Policy));
        var withoutDb = CronTable.Merge(first, [], e => e.BelongsTo(null, ["main-db"]));
        Assert.Contains(foreign, withoutDb);
        Assert.DoesNotContain("backuptools:main-db-full", withoutDb);
        Assert.Contains("backuptools:retention", withoutDb);
        Assert.Equal(foreign + "\n", CronTable.Merge(first, [], _ => true));
    }

    [Fact]
    public void AUserCrontabLineHasNoUserField()
    {
        var job = ScheduleBuilder.Build(Policy(), "/m.psd1", null)[0];
        var line = CronTable.Line(job, ["/usr/bin/pwsh"], "/backup/_logs", null, "/p.yml");
        Assert.StartsWith("*/15 * * * * '/usr/bin/pwsh' -NoProfile -NonInteractive -Command '", line);
        var entry = Assert.Single(CronTable.Read(line + "\n", hasUserField: false, DateTime.UtcNow));
        Assert.StartsWith("'/usr/bin/pwsh' -NoProfile", entry.Command);
    }

    [Fact]
    public void OwnershipComesFromTheMarkerNeverFromTheJobName()
    {
        static TargetPolicy T(string name) => new() { Name = name, Engine = TargetEngine.MariaDb, Schedule = new Dictionary<string, string> { ["full"] = "0 2 * * *" } };
        var policy = Policy() with { Targets = [T("db"), T("db-replica")] };
        var jobs = ScheduleBuilder.Build(policy, "/m.psd1", null);
        string Lines(string policyPath) => string.Join("\n", jobs.Select(j => CronTable.Line(j, ["/usr/bin/pwsh"], "/b/_logs", "root", policyPath))) + "\n";
        var table = CronTable.Merge(Lines("/etc/a policy.yml"), Lines("/etc/b.yml").Split('\n', StringSplitOptions.RemoveEmptyEntries), _ => false);
        var all = CronTable.Read(table, true, DateTime.UtcNow);
        Assert.Equal(2 * jobs.Count, all.Count);
        Assert.Contains(all, e => e.Policy == "/etc/a policy.yml"); // a path with a space reads back whole

        // -Target db of policy a: db's jobs of a only; not db-replica's, not a housekeeping job, not policy b's.
        var withoutDb = CronTable.Read(CronTable.Merge(table, [], e => e.BelongsTo("/etc/a policy.yml", ["db"])), true, DateTime.UtcNow);
        Assert.DoesNotContain(withoutDb, e => e.Policy == "/etc/a policy.yml" && e.Target == "db");
        Assert.Contains(withoutDb, e => e.Policy == "/etc/a policy.yml" && e.Target == "db-replica");
        Assert.Contains(withoutDb, e => e.Policy == "/etc/a policy.yml" && e.Name == "status-alerts");
        Assert.Equal(jobs.Count, withoutDb.Count(e => e.Policy == "/etc/b.yml"));
        // A target named like a housekeeping job owns nothing of it.
        Assert.False(all.First(e => e.Name == "status-alerts").BelongsTo(null, ["status"]));
    }

    [Fact]
    public void TaskSchedulerXmlHasTheRequiredElementsAndTranslatedTriggers()
    {
        var jobs = ScheduleBuilder.Build(Policy(), @"C:\Program Files\PowerShell\Modules\BackupTools\BackupTools.psd1", null);
        XNamespace ns = "http://schemas.microsoft.com/windows/2004/02/mit/task";
        foreach (var job in jobs)
        {
            var xml = XDocument.Parse(TaskSchedulerXml.Build(job, @"C:\Program Files\PowerShell\7\pwsh.exe", @"D:\backup\_logs", @"CORP\svc-backup", @"C:\ProgramData\BackupTools\policy.yml", new DateTime(2026, 11, 26)));
            var task = xml.Root!;
            Assert.Equal("1.2", task.Attribute("version")!.Value);
            var folder = TaskSchedulerXml.FolderFor(@"C:\ProgramData\BackupTools\policy.yml");
            Assert.Matches(@"^\\BackupTools\\[0-9A-F]{8}\\$", folder);
            Assert.NotEqual(folder, TaskSchedulerXml.FolderFor(@"C:\ProgramData\BackupTools\other.yml")); // two policies, two folders
            Assert.Equal(folder + job.Name, task.Element(ns + "RegistrationInfo")!.Element(ns + "URI")!.Value);
            Assert.EndsWith($"target={job.Target ?? "-"} policy=C:\\ProgramData\\BackupTools\\policy.yml", task.Element(ns + "RegistrationInfo")!.Element(ns + "Description")!.Value);
            var principal = task.Element(ns + "Principals")!.Element(ns + "Principal")!;
            Assert.Equal(("CORP\\svc-backup", "Password"), (principal.Element(ns + "UserId")!.Value, principal.Element(ns + "LogonType")!.Value));
            Assert.Equal("IgnoreNew", task.Element(ns + "Settings")!.Element(ns + "MultipleInstancesPolicy")!.Value);
            var exec = task.Element(ns + "Actions")!.Element(ns + "Exec")!;
            Assert.Equal(@"C:\Program Files\PowerShell\7\pwsh.exe", exec.Element(ns + "Command")!.Value);
            Assert.Contains(job.Name + ".log", exec.Element(ns + "Arguments")!.Value);
            Assert.NotNull(task.Element(ns + "Triggers")!.Element(ns + "CalendarTrigger")!.Element(ns + "StartBoundary"));
        }
        XElement Trigger(string name) => XDocument.Parse(TaskSchedulerXml.Build(jobs.Single(j => j.Name == name), "p", "l", "a", "/p.yml", new DateTime(2026, 11, 26)))
            .Root!.Element(ns + "Triggers")!.Element(ns + "CalendarTrigger")!;
        Assert.Equal("2026-11-26T02:00:00", Trigger("main-db-full").Element(ns + "StartBoundary")!.Value);
        Assert.Equal("PT6H", Trigger("main-db-incremental").Descendants(ns + "Interval").Single().Value);
        Assert.Equal("PT15M", Trigger("main-db-binlog").Descendants(ns + "Interval").Single().Value);
        Assert.Equal(["Monday", "Thursday"], Trigger("search-snapshot").Descendants(ns + "DaysOfWeek").Single().Elements().Select(e => e.Name.LocalName));
        // The stream: started at boot, never stopped for running long, restarted when it fails to run, and (as Task
        // Scheduler does not restart a task that exits with an error) its own pwsh started again 5 s after each exit.
        var stream = new ScheduledJob("stream-db", "db", ScheduleBuilder.ContinuousSchedule, "Import-Module \"m\"; Start-BinlogStream -Target \"db\"; exit 1", "p", Continuous: true);
        var continuous = XDocument.Parse(TaskSchedulerXml.Build(stream, @"C:\Program Files\PowerShell\7\pwsh.exe", @"D:\b\_logs", "a", "/p.yml")).Root!;
        Assert.NotNull(continuous.Element(ns + "Triggers")!.Element(ns + "BootTrigger"));
        var settings = continuous.Element(ns + "Settings")!;
        Assert.Equal("PT0S", settings.Element(ns + "ExecutionTimeLimit")!.Value);
        Assert.Equal("PT1M", settings.Element(ns + "RestartOnFailure")!.Element(ns + "Interval")!.Value);
        var arguments = continuous.Element(ns + "Actions")!.Element(ns + "Exec")!.Element(ns + "Arguments")!.Value;
        Assert.StartsWith("-NoProfile -NonInteractive -Command \"while ($true) { & 'C:\\Program Files\\PowerShell\\7\\pwsh.exe' -NoProfile -NonInteractive -EncodedCommand ", arguments);
        Assert.EndsWith("stream-db.log'; Start-Sleep -Seconds 5 }\"", arguments);
        var encoded = System.Text.RegularExpressions.Regex.Match(arguments, "-EncodedCommand (\\S+)").Groups[1].Value;
        Assert.Equal(stream.Script, System.Text.Encoding.Unicode.GetString(Convert.FromBase64String(encoded)));
        var odd = new ScheduledJob("odd", null, "0 0 1 * *", "x", "x");
        Assert.Contains("no Task Scheduler equivalent", Assert.Throws<ScheduleException>(() => TaskSchedulerXml.Build(odd, "p", "l", "a", "/p.yml")).Message);
    }
}
