using System.Management.Automation;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Start-BinlogStream: streams a MariaDB target's binary logs into the repository continuously, as a replica, until
/// stopped (Ctrl+C, or the service stopping); each file the server rotates away from is sealed into a binlog set and
/// written out as a BackupRecord (pipe into Send-BackupAlert).
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "BinlogStream", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(BackupRecord))]
public sealed class StartBinlogStreamCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Target { get; set; } = "";

    /// <summary>Used instead of the policy's passwordEnv/passwordFile; the login needs REPLICATION SLAVE.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var target = policy.FindTarget(Target) ?? throw new ItemNotFoundException($"The policy has no target '{Target}'.");
        var engine = EngineRegistry.For(target);
        if (!engine.CanStream)
            throw new NotSupportedException($"Target '{target.Name}' is a {target.Engine} target: only MariaDB targets have binary logs to stream.");
        var password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
        var request = new BackupRequest
        {
            RepositoryRoot = policy.Repository, Target = target, Password = password, PolicyPath = policy.Path,
            Compression = CompressionOptions.FromPolicy(policy.Storage) with { Encrypt = BackupTools.Engine.Offsite.OffsiteStores.LocalKey(policy) },
            Log = WriteVerboseAsync, Warn = WriteWarningAsync,
        };
        WriteVerboseAsync($"Streaming the binary logs of {target.Name} until stopped (Ctrl+C)");
        // SIGTERM (systemctl stop, a service manager, kill) stops it as Ctrl+C does: its mariadb-binlog stopped with it
        // and the file being received synced, rather than the process ending under them.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(CancelToken);
        using var sigterm = OperatingSystem.IsWindows() ? null : System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, signal =>
            {
                signal.Cancel = true;
                stop.Cancel();
            });
        await engine.StreamAsync(request, attempt =>
        {
            if (attempt.Error is not null) WriteErrorAsync(EngineErrors.ToErrorRecord(attempt.Error, attempt.Record.Target));
            WriteObjectAsync(attempt.Record);
        }, stop.Token);
    }
}
