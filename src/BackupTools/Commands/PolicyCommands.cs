using System.Management.Automation;
using BackupTools.Engine.Policy;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Get-BackupPolicy: the parsed policy; secrets are never read, only where they come from.</summary>
[Cmdlet(VerbsCommon.Get, "BackupPolicy", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(BackupPolicy))]
public sealed class GetBackupPolicyCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    protected override Task ProcessRecordAsync()
    {
        WriteObjectAsync(LoadPolicy());
        return Task.CompletedTask;
    }
}

/// <summary>Test-BackupPolicy: every problem as an error with file:line:column; $true when the policy is valid.</summary>
[Cmdlet(VerbsDiagnostic.Test, "BackupPolicy", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(bool))]
public sealed class TestBackupPolicyCommand : AsyncPSCmdlet
{
    private const string DefaultSet = "Default";

    /// <summary>Path of the policy file to test (also binds FullName from Get-ChildItem).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath", "PolicyPath")]
    [ValidateNotNullOrEmpty]
    public string? Policy { get; set; }

    private string? ResolvedPolicyPath { get; set; }

    protected override void PrepareRecord() => ResolvedPolicyPath = PolicyCmdlet.ResolvePath(this, Policy);

    protected override Task ProcessRecordAsync()
    {
        var (path, chosenBy) = PolicyLocator.Resolve(ResolvedPolicyPath);
        if (!File.Exists(path))
        {
            var missing = new PolicyNotFoundException(path, chosenBy);
            WriteErrorAsync(new ErrorRecord(missing, "PolicyNotFound", ErrorCategory.ObjectNotFound, path));
            WriteObjectAsync(false);
            return Task.CompletedTask;
        }
        var (parsed, problems) = PolicyParser.Parse(File.ReadAllText(path), path);
        foreach (var problem in problems)
            WriteErrorAsync(new ErrorRecord(new InvalidDataException(problem.ToString()), "PolicyProblem", ErrorCategory.InvalidData, problem)
            {
                ErrorDetails = new ErrorDetails(problem.ToString())
                {
                    RecommendedAction = "Fix the value at that line and column, then run Test-BackupPolicy again.",
                },
            });
        WriteVerboseAsync(problems.Count == 0 ? $"{path}: no problems." : $"{path}: {problems.Count} problem(s).");
        // Said plainly: encryption.local covers the database sets; what it does not cover is named.
        if (parsed is { Encryption.Local: true } local && local.ConfigPaths.Count > 0)
            WriteWarningAsync($"{path}: encryption.local encrypts the backup sets and model blobs stored here; the config history (a Git " +
                              "repository; secrets are never committed to it) stays unencrypted on this host. Its offsite copies are encrypted.");
        if (parsed is { } valid && (valid.Alerts.CriticalRoute.Count == 0 || valid.Alerts.WarningRoute.Count == 0))
            WriteWarningAsync($"{path}: no alert channel is configured for " +
                              (valid.Alerts.CriticalRoute.Count == 0 && valid.Alerts.WarningRoute.Count == 0 ? "Critical or Warning" : valid.Alerts.CriticalRoute.Count == 0 ? "Critical" : "Warning") +
                              " alerts, so a failed backup would reach nobody. Add alerts.channels (slack, email, sms, phone or webhook) and route them.");
        WriteObjectAsync(problems.Count == 0);
        return Task.CompletedTask;
    }
}
