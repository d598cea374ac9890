using System.Management.Automation;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Start-DbBackup: one backup of each named target. Failures are results too (a BackupRecord with Status Failed plus a
/// non-terminating error), so <c>Start-DbBackup … | Send-BackupAlert</c> sees them.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "DbBackup", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(BackupRecord))]
public sealed class StartDbBackupCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Target { get; set; } = [];

    /// <summary>MariaDB: Full (the default), Incremental, or Binlog (archive closed binary logs). Redis and Elasticsearch: Snapshot (the default).</summary>
    [Parameter(Position = 1)]
    [ValidateSet("Full", "Incremental", "Binlog", "Snapshot", IgnoreCase = true)]
    public string? Type { get; set; }

    /// <summary>Redis: Replication (the default: a dump over the replication protocol, no access to the server's files) or Bgsave (BGSAVE, then a copy from the policy's dataDir).</summary>
    [Parameter]
    [ValidateSet("Replication", "Bgsave", IgnoreCase = true)]
    public string? Method { get; set; }

    /// <summary>Used instead of the policy's passwordEnv/passwordFile.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>
    /// When another run holds the target's lock, record Skipped in the journal and go on quietly instead of failing:
    /// what scheduled jobs use, so a long backup that overlaps the next start is not a failure storm.
    /// </summary>
    [Parameter]
    public SwitchParameter SkipIfBusy { get; set; }

    /// <summary>Before publishing, extract the backup (with its chain) into a scratch directory and run mariabackup --prepare.</summary>
    [Parameter]
    public SwitchParameter Verify { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        foreach (var target in SelectTargets(policy, Target))
        {
            var type = (Type ?? (target.Engine == TargetEngine.MariaDb ? "Full" : "Snapshot")).ToLowerInvariant();
            if (!TypeFits(target, type)) continue;
            if (SkipIfBusy && IsBusy(policy.Repository, target, type)) continue;
            string? password;
            try
            {
                password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
            }
            catch (SecretUnavailableException e)
            {
                Report(BackupRecords.Failed(MariaDbCatalog.Engine, target.Name, type, null, DateTime.UtcNow, e, ResolvedPolicyPath ?? policy.Path));
                continue;
            }
            var request = new BackupRequest
            {
                RepositoryRoot = policy.Repository, Target = target, Password = password,
                Compression = CompressionOptions.FromPolicy(policy.Storage), Verify = Verify, PolicyPath = policy.Path,
                Progress = CreateTransferProgress($"{type} backup of {target.Name}"), Log = WriteVerboseAsync, Warn = WriteWarningAsync,
            };
            WriteVerboseAsync($"Starting {type} backup of {target.Name} at {target.Endpoint} into {policy.Repository}");
            if (target.Engine == TargetEngine.Elasticsearch)
                Report(await EsSnapshotBackup.RunAsync(request, CancelToken));
            else if (target.Engine == TargetEngine.Redis)
                Report(await RedisBackup.RunAsync(request, Enum.Parse<RedisBackupMethod>(Method ?? "Replication", ignoreCase: true), CancelToken));
            else if (type == MariaDbCatalog.Binlog)
                foreach (var attempt in await BinlogArchiver.RunAsync(request, CancelToken)) Report(attempt);
            else
                Report(await MariaDbBackup.RunAsync(request, type, CancelToken));
            WriteProgressAsync(new ProgressRecord(1, $"{type} backup of {target.Name}", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private bool IsBusy(string repository, TargetPolicy target, string type)
    {
        var engine = BackupCatalog.EngineOf(target.Engine);
        if (TargetLock.Holder(repository, engine, target.Name, BackupRun.LockScopeOf(engine, type)) is not { } holder) return false;
        RunJournal.Append(repository, new JournalEntry
        {
            Time = DateTime.UtcNow, Engine = engine, Target = target.Name, Type = type, Status = "Skipped",
            Error = $"another run (host {holder.Host}, process {holder.ProcessId}) holds the target", Host = Environment.MachineName, ProcessId = Environment.ProcessId,
        });
        WriteWarningAsync($"{target.Name}: skipped this {type} backup: another run (host {holder.Host}, process {holder.ProcessId}) is still backing it up.");
        return true;
    }

    /// <summary>Snapshot is the one type of Redis and Elasticsearch; Full, Incremental and Binlog are MariaDB's.</summary>
    private bool TypeFits(TargetPolicy target, string type)
    {
        string? problem = null;
        if ((target.Engine == TargetEngine.MariaDb) == (type == "snapshot"))
            problem = target.Engine == TargetEngine.MariaDb
                ? $"Target '{target.Name}' is a MariaDB target; use -Type Full, Incremental or Binlog."
                : $"Target '{target.Name}' ({target.Engine}) takes snapshots only: -Type Snapshot, the default.";
        else if (Method is not null && target.Engine != TargetEngine.Redis)
            problem = $"-Method is for Redis targets; '{target.Name}' is a {target.Engine} target.";
        if (problem is null) return true;
        WriteErrorAsync(new ErrorRecord(new NotSupportedException(problem), "TypeNotSupported", ErrorCategory.InvalidArgument, target.Name));
        return false;
    }

    private void Report(BackupAttempt attempt)
    {
        if (attempt.Error is not null) WriteErrorAsync(EngineErrors.ToErrorRecord(attempt.Error, attempt.Record.Target));
        WriteObjectAsync(attempt.Record);
    }
}
