using System.Management.Automation;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Test-BackupTarget: can each target be reached and logged in to, with the engine's own client; with -Readiness,
/// is it ready for what its first scheduled run needs (one finding per check, with the fix).
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "BackupTarget", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(TargetCheck), typeof(ReadinessFinding))]
public sealed class TestBackupTargetCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";
    private const string OffsiteSet = "Offsite";

    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = DefaultSet)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(TargetNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Target { get; set; }

    /// <summary>Used instead of the policy's passwordEnv/passwordFile for every target tested.</summary>
    [Parameter(ParameterSetName = DefaultSet)]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateRange(1, 300)]
    public int TimeoutSec { get; set; } = 5;

    /// <summary>Check what the first scheduled run needs (binlog format and expiry, privileges, ACLs, snapshot repository, room), not only the login.</summary>
    [Parameter(ParameterSetName = DefaultSet)]
    public SwitchParameter Readiness { get; set; }

    /// <summary>Check offsite repositories instead (names under offsite: in the policy; * for all): key, credentials, reachable, writable, lock.</summary>
    [Parameter(Mandatory = true, ParameterSetName = OffsiteSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Offsite { get; set; } = [];

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        if (ParameterSetName == OffsiteSet)
        {
            var patterns = Offsite.Select(o => WildcardPattern.Get(o, WildcardOptions.IgnoreCase)).ToList();
            var chosen = policy.Offsite.Where(o => patterns.Any(p => p.IsMatch(o.Name))).ToList();
            foreach (var missing in Offsite.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !policy.Offsite.Any(o => o.Name.Equals(n, StringComparison.OrdinalIgnoreCase))))
                WriteErrorAsync(new ErrorRecord(new ArgumentException($"The policy has no offsite repository '{missing}' (it has: {string.Join(", ", policy.Offsite.Select(o => o.Name))})."),
                    "OffsiteNotFound", ErrorCategory.ObjectNotFound, missing));
            foreach (var offsite in chosen)
                foreach (var finding in await BackupTools.Engine.Offsite.OffsiteProbe.RunAsync(policy, offsite, CancelToken))
                    WriteObjectAsync(finding);
            return;
        }
        foreach (var target in SelectTargets(policy, Target))
        {
            string? password;
            try
            {
                password = SecretResolver.Resolve(target, Credential?.GetNetworkCredential().Password);
            }
            catch (SecretUnavailableException e)
            {
                WriteErrorAsync(EngineErrors.ToErrorRecord(e, target.Name));
                continue;
            }
            WriteVerboseAsync($"Checking {target.Name} ({target.Engine}) at {target.Endpoint}");
            if (!Readiness)
            {
                WriteObjectAsync(await TargetProbe.CheckAsync(target, password, TimeSpan.FromSeconds(TimeoutSec), CancelToken));
                continue;
            }
            foreach (var finding in await ReadinessCheck.RunAsync(target, password, policy.Repository, TimeSpan.FromSeconds(TimeoutSec), CancelToken))
                WriteObjectAsync(finding with { PolicyPath = policy.Path });
        }
    }
}
