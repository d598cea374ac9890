using System.Management.Automation;
using BackupTools.Engine.Engines;
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
            var engine = EngineRegistry.For(target);
            var type = Type is null ? engine.Types[0] : BackupTypes.Parse(Type);
            var options = new BackupOptions { Method = Method };
            if (engine.WhyNot(target, type, options) is { } problem)
            {
                WriteErrorAsync(new ErrorRecord(new NotSupportedException(problem), "TypeNotSupported", ErrorCategory.InvalidArgument, target.Name));
                continue;
            }
            if (SkipIfBusy && IsBusy(policy.Repository, engine, target, type)) continue;
            string? password;
            try
            {
                password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
            }
            catch (SecretUnavailableException e)
            {
                Report(BackupRecords.FailedBeforeStart(policy.Repository, engine.Name, target.Name, type.Name(), e, ResolvedPolicyPath ?? policy.Path));
                continue;
            }
            BackupTools.Engine.Encryption.EncryptionKey? localKey;
            try { localKey = BackupTools.Engine.Offsite.OffsiteStores.LocalKey(policy); }
            catch (Exception e) when (e is BackupTools.Engine.Encryption.EncryptionKeyException or SecretUnavailableException or IOException or UnauthorizedAccessException)
            {
                // A failed backup (journal, alert), never one stored in the clear because the key could not be read.
                Report(BackupRecords.FailedBeforeStart(policy.Repository, engine.Name, target.Name, type.Name(),
                    new BackupTools.Engine.Encryption.EncryptionKeyException($"encryption.local is on and the key cannot be read, so nothing was backed up: {e.Message}"),
                    ResolvedPolicyPath ?? policy.Path));
                continue;
            }
            var request = new BackupRequest
            {
                RepositoryRoot = policy.Repository, Target = target, Password = password,
                Compression = CompressionOptions.FromPolicy(policy.Storage) with { Encrypt = localKey }, Verify = Verify, PolicyPath = policy.Path,
                Progress = CreateTransferProgress($"{type.Name()} backup of {target.Name}"), Log = WriteVerboseAsync, Warn = WriteWarningAsync,
            };
            WriteVerboseAsync($"Starting {type.Name()} backup of {target.Name} at {target.Endpoint} into {policy.Repository}");
            foreach (var attempt in await engine.BackupAsync(request, type, options, CancelToken)) Report(attempt);
            WriteProgressAsync(new ProgressRecord(1, $"{type.Name()} backup of {target.Name}", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private bool IsBusy(string repository, ITargetEngine engine, TargetPolicy target, BackupType type)
    {
        if (TargetLock.Holder(repository, engine.Name, target.Name, engine.LockScope(type)) is not { } holder) return false;
        RunJournal.Append(repository, new JournalEntry
        {
            Time = DateTime.UtcNow, Engine = engine.Name, Target = target.Name, Type = type.Name(), Status = nameof(JournalStatus.Skipped),
            Error = $"another run (host {holder.Host}, process {holder.ProcessId}) holds the target", Host = Environment.MachineName, ProcessId = Environment.ProcessId,
        });
        WriteWarningAsync($"{target.Name}: skipped this {type.Name()} backup: another run (host {holder.Host}, process {holder.ProcessId}) is still backing it up.");
        return true;
    }

    private void Report(BackupAttempt attempt)
    {
        if (attempt.Error is not null) WriteErrorAsync(EngineErrors.ToErrorRecord(attempt.Error, attempt.Record.Target));
        WriteObjectAsync(attempt.Record);
    }
}
