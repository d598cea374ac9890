using System.Management.Automation;
using BackupTools.Engine.Config;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Backup-ConfigFile: commits changed config files (and their mode and owner) to the Git history in the repository.</summary>
[Cmdlet(VerbsData.Backup, "ConfigFile", DefaultParameterSetName = "Default")]
[OutputType(typeof(ConfigSnapshot))]
public sealed class BackupConfigFileCommand : PolicyCmdlet
{
    /// <summary>Files, directories or wildcards (absolute or relative to the current location); else the policy's config.paths.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    public string[]? Path { get; set; }

    /// <summary>More name patterns to keep out (beside the built-in secret patterns and config.exclude).</summary>
    [Parameter]
    public string[] Exclude { get; set; } = [];

    /// <summary>The commit message; else one that counts what changed.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Message { get; set; }

    private readonly List<string> _paths = [];

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        // Paths from the pipeline (Get-ChildItem /etc/nginx | Backup-ConfigFile) are gathered: one commit for all of them.
        foreach (var p in Path ?? []) _paths.Add(ResolvePath(this, p)!);
    }

    protected override async Task EndProcessingAsync()
    {
        var policy = LoadPolicy();
        var paths = _paths.Count > 0 ? _paths : policy.ConfigPaths.ToList();
        if (paths.Count == 0)
            throw new ArgumentException($"No config files to back up: give -Path, or list them under config.paths in {policy.Path}.");
        var snapshot = await ConfigBackup.RunAsync(new ConfigBackupRequest
        {
            RepositoryRoot = policy.Repository, Paths = paths, Excludes = [.. policy.ConfigExcludes, .. Exclude], Message = Message,
            SecretFiles = BackupTools.Engine.Policy.PolicySecrets.Files(policy),
            Remote = policy.ConfigRemote, PolicyPath = policy.Path, Log = WriteVerboseAsync, Warn = WriteWarningAsync,
        }, CancelToken);
        if (snapshot.Error is not null)
            WriteErrorAsync(new ErrorRecord(new InvalidOperationException(snapshot.Error), "ConfigPushFailed", ErrorCategory.ConnectionError, snapshot.Remote));
        WriteObjectAsync(snapshot);
    }
}

/// <summary>Get-ConfigFileHistory: the commits that changed config files, one object per file and commit.</summary>
[Cmdlet(VerbsCommon.Get, "ConfigFileHistory", DefaultParameterSetName = "Default")]
[OutputType(typeof(ConfigHistoryEntry))]
public sealed class GetConfigFileHistoryCommand : PolicyCmdlet
{
    /// <summary>A file or directory (its original path, e.g. /etc/docker/daemon.json); all files when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    public string? Path { get; set; }

    /// <summary>Only commits at or after this time (local time unless it carries a zone).</summary>
    [Parameter]
    public DateTimeOffset? After { get; set; }

    /// <summary>Only commits at or before this time.</summary>
    [Parameter]
    public DateTimeOffset? Before { get; set; }

    /// <summary>Only the newest N commits.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    /// <summary>Read the history in this offsite repository instead (its newest copy, fetched into scratch and removed after).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private string? _path;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _path = Path is null ? null : System.IO.Path.IsPathFullyQualified(Path) ? Path : ResolvePath(this, Path);
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var path = _path;
        using var fetched = Offsite is null ? null : await FetchConfigHistoryAsync(policy, Offsite);
        foreach (var e in ConfigHistory.List(fetched?.Path ?? policy.Repository, path, After?.UtcDateTime, Before?.UtcDateTime, Last, policy.Path))
            WriteObjectAsync(e);
    }
}

/// <summary>Restore-ConfigFile: writes a config file as it was at a commit or a time, keeping the current one beside it.</summary>
[Cmdlet(VerbsData.Restore, "ConfigFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = CommitSet)]
[OutputType(typeof(ConfigRestoreResult))]
public sealed class RestoreConfigFileCommand : PolicyCmdlet
{
    private const string CommitSet = "Commit";
    private const string AsOfSet = "AsOf";

    /// <summary>The file's original path (e.g. /etc/docker/daemon.json).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The commit (a unique prefix of its id is enough), e.g. from Get-ConfigFileHistory.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CommitSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Commit { get; set; } = "";

    /// <summary>The file as it was at this time: the newest commit at or before it.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AsOfSet)]
    public DateTimeOffset AsOf { get; set; }

    /// <summary>Write here (a file, or a directory to write into) instead of over the file itself.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Take the file from this offsite repository's config history (its newest copy) instead of the local one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private string _path = "";
    private string? _destination;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _path = System.IO.Path.IsPathFullyQualified(Path) ? Path : ResolvePath(this, Path)!;
        _destination = Destination is null ? null : ResolvePath(this, Destination);
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var path = _path;
        var destination = _destination;
        // From offsite, the history is fetched first: a what-if says so and fetches nothing (it writes to scratch).
        if (Offsite is not null && !(await AskAsync($"offsite {Offsite}", $"Fetch the config history (decrypted and checked) into scratch, then restore {path} from it")).Go)
            return;
        using var fetched = Offsite is null ? null : await FetchConfigHistoryAsync(policy, Offsite);
        var plan = ConfigRestore.Plan(fetched?.Path ?? policy.Repository, path, ParameterSetName == CommitSet ? Commit : null,
            ParameterSetName == AsOfSet ? AsOf.UtcDateTime : null, destination);
        var what = $"Restore {plan.Path} as of commit {plan.CommitId[..12]} ({plan.CommitTime:u})" +
                   (plan.Metadata is { } m ? $", mode {m.Mode}, owner {m.Owner}:{m.Group}" : "") +
                   (plan.Diff.Length == 0 ? "; the content is the same as now" : ":\n" + plan.Diff.TrimEnd());
        if (!await ShouldProcessAsync(plan.Destination, what)) return;
        if (plan.KeptSecretLines.Count > 0)
            WriteWarningAsync($"{plan.Path}: line(s) {string.Join(", ", plan.KeptSecretLines)} held a secret the history stores as {BackupTools.Engine.Config.SecretScanner.Placeholder}; " +
                              "the restored file keeps the live file's value there.");
        WriteObjectAsync(await ConfigRestore.RunAsync(plan, WriteVerboseAsync, CancelToken));
    }
}
