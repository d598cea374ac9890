using System.Management.Automation;
using BackupTools.Engine.MariaDb;
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

    /// <summary>Full (the default for MariaDB), Incremental, or Binlog (archive closed binary logs).</summary>
    [Parameter(Position = 1)]
    [ValidateSet("Full", "Incremental", "Binlog", IgnoreCase = true)]
    public string? Type { get; set; }

    /// <summary>Used instead of the policy's passwordEnv/passwordFile.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Before publishing, extract the backup (with its chain) into a scratch directory and run mariabackup --prepare.</summary>
    [Parameter]
    public SwitchParameter Verify { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        foreach (var target in SelectTargets(policy, Target))
        {
            if (target.Engine != TargetEngine.MariaDb)
            {
                WriteErrorAsync(new ErrorRecord(new NotSupportedException(
                        $"Target '{target.Name}' is a {target.Engine} target; Start-DbBackup backs up MariaDB targets in this version."),
                    "EngineNotSupported", ErrorCategory.NotImplemented, target.Name));
                continue;
            }
            var type = (Type ?? "Full").ToLowerInvariant();
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
                Progress = CreateTransferProgress($"{type} backup of {target.Name}"), Log = WriteVerboseAsync,
            };
            WriteVerboseAsync($"Starting {type} backup of {target.Name} at {target.Endpoint} into {policy.Repository}");
            if (type == MariaDbCatalog.Binlog)
                foreach (var attempt in await BinlogArchiver.RunAsync(request, CancelToken)) Report(attempt);
            else
                Report(await MariaDbBackup.RunAsync(request, type, CancelToken));
            WriteProgressAsync(new ProgressRecord(1, $"{type} backup of {target.Name}", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private void Report(BackupAttempt attempt)
    {
        if (attempt.Error is not null) WriteErrorAsync(EngineErrors.ToErrorRecord(attempt.Error, attempt.Record.Target));
        WriteObjectAsync(attempt.Record);
    }
}
