using System.Management.Automation;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Initialize-BackupRepository: creates the repository layout and the config Git history; safe to repeat.</summary>
[Cmdlet(VerbsData.Initialize, "BackupRepository", DefaultParameterSetName = DefaultSet, SupportsShouldProcess = true,
    ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(RepositoryInfo))]
public sealed class InitializeBackupRepositoryCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    protected override async Task ProcessRecordAsync()
    {
        var root = LoadPolicy().Repository;
        if (!await ShouldProcessAsync(root, "Create backup repository layout (0700) and config Git history")) return;
        WriteObjectAsync(RepositoryService.Initialize(root));
    }
}

/// <summary>Get-BackupRepository: what the repository holds and how much room is left.</summary>
[Cmdlet(VerbsCommon.Get, "BackupRepository", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(RepositoryInfo))]
public sealed class GetBackupRepositoryCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    protected override Task ProcessRecordAsync()
    {
        var root = LoadPolicy().Repository;
        if (!Directory.Exists(root))
            WriteWarningAsync($"The repository '{root}' does not exist yet; Initialize-BackupRepository creates it.");
        WriteObjectAsync(RepositoryService.Describe(root));
        return Task.CompletedTask;
    }
}
