using System.Management.Automation;
using BackupTools.Engine.Models;
using BackupTools.Model;

namespace BackupTools.Commands;

internal static class ModelRecords
{
    public static ModelBackupRecord From(ModelManifest m, ModelBackupOutcome status, string? policyPath) => new()
    {
        Name = m.Name, Version = m.Version, Status = status, VersionSource = m.VersionSource, Created = m.Created, Files = m.Files.Count,
        RawBytes = m.RawBytes, NewBytes = status == ModelBackupOutcome.Unchanged ? 0 : m.NewBytes, Duration = TimeSpan.FromSeconds(m.DurationSeconds),
        ManifestHash = m.ManifestHash, SourcePath = m.SourcePath, PolicyPath = policyPath,
    };

    public static ModelPolicy? Find(BackupPolicy policy, string name) =>
        policy.Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>Backup-AiModel: backs up a model directory as a version when its version or content changed.</summary>
[Cmdlet(VerbsData.Backup, "AiModel", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(ModelBackupRecord))]
public sealed class BackupAiModelCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The model directory; else the policy's models.&lt;name&gt;.path.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Path { get; set; }

    /// <summary>The version; else what the directory declares (config.json "version", VERSION), else the content hash.</summary>
    [Parameter]
    public string? Version { get; set; }

    /// <summary>Config files backed up with the model (restored under _config/ in the model directory).</summary>
    [Parameter]
    public string[] ConfigPath { get; set; } = [];

    /// <summary>Replace a version already backed up with different content.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Read and hash every file, even those whose size and modification time are unchanged.</summary>
    [Parameter]
    public SwitchParameter Rehash { get; set; }

    /// <summary>The quick check compares path, size and time only (NFS and FUSE mounts may give a file a new inode number each time).</summary>
    [Parameter]
    public SwitchParameter IgnoreInode { get; set; }

    private string? _path;
    private string[] _configs = [];

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _path = ResolvePath(this, Path);
        _configs = ConfigPath.Select(c => ResolvePath(this, c)!).ToArray();
    }

    internal static bool SamePath(string a, string b) =>
        string.Equals(System.IO.Path.GetFullPath(a).TrimEnd('/', '\\'), System.IO.Path.GetFullPath(b).TrimEnd('/', '\\'),
            OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private void NoteDeployment(BackupPolicy policy, string name, ModelManifest manifest, DateTime time, string how) => NoteDeployment(WriteWarningAsync, policy, name, manifest, time, how);

    /// <summary>Records the deployed version for platform restores; a failure to record is a warning, never a failed backup or restore.</summary>
    internal static void NoteDeployment(Action<string> warn, BackupPolicy policy, string name, ModelManifest manifest, DateTime time, string how)
    {
        var version = manifest.Version;
        try { ModelDeployments.Record(policy.Repository, name, version, time, how, manifest.ManifestHash); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"Model {name} version {version} is deployed, but the deployment history could not record it ({e.Message}); a platform restore to this time may pick an older version. Check the repository's disk.");
        }
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var source = _path ?? ModelRecords.Find(policy, Name)?.Path
            ?? throw new ItemNotFoundException($"Model '{Name}' is not in the policy's models: section; give -Path or add it to the policy.");
        var start = DateTime.UtcNow;
        try
        {
            // encryption.local: new blobs are stored encrypted; a key that cannot be read fails the backup (never in the clear).
            var encrypt = BackupTools.Engine.Offsite.OffsiteStores.LocalKey(policy);
            var (manifest, status) = await ModelBackup.RunAsync(policy.Repository, Name, source, Version, _configs, Force,
                CreateTransferProgress($"Backing up model {Name}"), CancelToken, Rehash, WriteWarningAsync, encrypt, IgnoreInode);
            if (ModelRecords.Find(policy, Name) is { } model && SamePath(model.Path, source))
                NoteDeployment(policy, Name, manifest, start, "backup");
            WriteObjectAsync(ModelRecords.From(manifest, status == ModelBackupStatus.Unchanged ? ModelBackupOutcome.Unchanged : ModelBackupOutcome.Succeeded, policy.Path));
        }
        catch (Exception e) when (e is ModelVersionConflictException or DirectoryNotFoundException or IOException or ArgumentException
                                      or BackupTools.Engine.Encryption.EncryptionKeyException or BackupTools.Engine.Targets.SecretUnavailableException)
        {
            WriteErrorAsync(new ErrorRecord(e, e is ModelVersionConflictException ? "ModelVersionConflict" : "ModelBackupFailed", ErrorCategory.InvalidOperation, Name));
            WriteObjectAsync(new ModelBackupRecord
            {
                Name = Name, Version = Version ?? "", Status = ModelBackupOutcome.Failed, Error = e.Message, Duration = DateTime.UtcNow - start, PolicyPath = policy.Path,
            });
        }
    }
}

/// <summary>Get-AiModelBackup: the versions of each model, newest first.</summary>
[Cmdlet(VerbsCommon.Get, "AiModelBackup", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(ModelBackupRecord))]
public sealed class GetAiModelBackupCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string? Name { get; set; }

    [Parameter(Position = 1)]
    public string? Version { get; set; }

    /// <summary>List the versions in this offsite repository instead (read from its manifests there, decrypted with the policy's key).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var pattern = new WildcardPattern(Name ?? "*", WildcardOptions.IgnoreCase);
        if (Offsite is not null)
        {
            var (_, store, key) = OpenOffsite(policy, Offsite);
            foreach (var m in (await BackupTools.Engine.Offsite.OffsiteModels.ListVersionsAsync(store, key, null, CancelToken))
                         .Where(m => pattern.IsMatch(m.Name) && (Version is null || m.Version == Version)).OrderBy(m => m.Name, StringComparer.OrdinalIgnoreCase))
                WriteObjectAsync(ModelRecords.From(m, ModelBackupOutcome.Succeeded, policy.Path));
            return;
        }
        List(policy, pattern);
    }

    private void List(BackupPolicy policy, WildcardPattern pattern)
    {
        var root = System.IO.Path.Combine(policy.Repository, ModelBackup.Engine);
        if (!Directory.Exists(root)) return;
        foreach (var model in Directory.EnumerateDirectories(root).Select(System.IO.Path.GetFileName).Where(n => pattern.IsMatch(n!)).Order())
        {
            foreach (var m in ModelBackup.Versions(policy.Repository, model!).Where(m => Version is null || m.Version == Version))
                WriteObjectAsync(ModelRecords.From(m, ModelBackupOutcome.Succeeded, policy.Path));
        }
    }
}

/// <summary>Test-AiModelBackup: re-hashes every blob of each version.</summary>
[Cmdlet(VerbsDiagnostic.Test, "AiModelBackup", DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(BackupVerification))]
public sealed class TestAiModelBackupCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>Only this version; all versions when omitted.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    public string? Version { get; set; }

    /// <summary>Read only this share of the distinct blobs (a random sample), as restic check --read-data-subset; every blob's presence is still checked.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public int? ReadData { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        if (!Directory.Exists(System.IO.Path.Combine(ModelBackup.ModelDirectory(policy.Repository, Name), "versions")))
            throw new ItemNotFoundException($"Model '{Name}' has no backups in {policy.Repository}.");
        await foreach (var result in ModelVerifier.VerifyAsync(policy.Repository, Name, Version, CancelToken, ReadData, WriteWarningAsync))
        {
            if (result.Status != VerificationStatus.Verified)
                WriteErrorAsync(new ErrorRecord(new InvalidDataException($"Model {result.Target} version {result.Id}: {result.Detail}."), "Backup" + result.Status, ErrorCategory.InvalidData, result));
            WriteObjectAsync(result);
        }
    }
}

/// <summary>Restore-AiModel: puts a version back, validated, rolling back when validation fails.</summary>
[Cmdlet(VerbsData.Restore, "AiModel", DefaultParameterSetName = DefaultSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(ModelRestoreResult))]
public sealed class RestoreAiModelCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The version to restore; the newest when omitted.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    public string? Version { get; set; }

    /// <summary>Where to restore; the policy's models.&lt;name&gt;.path when omitted.</summary>
    [Parameter]
    public string? Destination { get; set; }

    /// <summary>Gets the restored directory; must return $true, else the previous directory is put back.</summary>
    [Parameter]
    public ScriptBlock? ValidationScript { get; set; }

    /// <summary>Restore from this offsite repository (fetched, decrypted and checked into scratch first), on a host that may never have seen the local repository.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    /// <summary>Only the files whose path in the version matches one of these (wildcards, e.g. 'shard017/*'); needs -Destination.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Path { get; set; }

    /// <summary>As -Path, taken literally (names with [, ], * or ?): a file's path in the version, or a directory's, meaning every file beneath it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? LiteralPath { get; set; }

    private string? _destination;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _destination = ResolvePath(this, Destination);
        // A subset never replaces a whole model: it goes into a directory of its own.
        if (Path is not null && LiteralPath is not null)
            throw new ArgumentException("Give -Path (wildcards) or -LiteralPath (exact names), not both.");
        if ((Path ?? LiteralPath) is not null && _destination is null)
            throw new ArgumentException("-Path and -LiteralPath restore part of a version: give -Destination (a new or empty directory) for it; the model's own path is only ever replaced by a whole version.");
    }

    /// <summary>A path as a version spells it ('/' between names): a backslash separates only on Windows; on Linux it is part of a name.</summary>
    private static string AsVersionPath(string path) => OperatingSystem.IsWindows() ? path.Replace('\\', '/') : path;

    /// <summary>The version narrowed to the files -Path names (a link is kept when its own path matches).</summary>
    private ModelManifest Subset(ModelManifest manifest)
    {
        if (Path is null && LiteralPath is null) return manifest;
        Func<string, bool> wanted;
        if (LiteralPath is not null)
        {
            var names = LiteralPath.Select(p => AsVersionPath(p).Trim('/')).ToList();
            wanted = path => names.Any(n => path == n || path.StartsWith(n + "/", StringComparison.Ordinal));
        }
        else
        {
            var patterns = Path!.Select(p => new WildcardPattern(AsVersionPath(p).TrimStart('/'), WildcardOptions.CultureInvariant)).ToList();
            wanted = path => patterns.Any(p => p.IsMatch(path));
        }
        var files = manifest.Files.Where(f => wanted(f.Path)).ToList();
        if (files.Count == 0)
            throw new ItemNotFoundException($"No file of model {manifest.Name} version {manifest.Version} matches {(LiteralPath is not null ? "-LiteralPath" : "-Path")} {string.Join(", ", Path ?? LiteralPath!)}. Paths in a version are relative to the model's directory, e.g. 'shard017/*'.");
        return manifest with { Files = files };
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var repository = policy.Repository;
        BackupTools.Engine.Repository.ScratchDirectory? fetched = null;
        ModelManifest? manifest;
        BackupTools.Engine.Offsite.IRemoteStore? store = null;
        BackupTools.Engine.Encryption.EncryptionKey? key = null;
        if (Offsite is not null)
        {
            (_, store, key) = OpenOffsite(policy, Offsite);
            manifest = (await BackupTools.Engine.Offsite.OffsiteModels.ListVersionsAsync(store, key, Name, CancelToken))
                .FirstOrDefault(m => string.Equals(m.Name, Name, StringComparison.OrdinalIgnoreCase) && (Version is null || m.Version == Version))
                ?? throw new ItemNotFoundException($"Model '{Name}' has no version {(Version is null ? "" : $"'{Version}' ")}in offsite '{Offsite}'. See Get-AiModelBackup -Offsite {Offsite}.");
        }
        else manifest = ModelRestore.Find(policy.Repository, Name, Version)
            ?? throw new ItemNotFoundException($"Model '{Name}' has no backed-up version {(Version is null ? "" : $"'{Version}' ")}in {policy.Repository}. See Get-AiModelBackup.");
        manifest = Subset(manifest);
        var destination = _destination ?? ModelRecords.Find(policy, Name)?.Path
            ?? throw new ItemNotFoundException($"Model '{Name}' is not in the policy's models: section; give -Destination.");
        if ((Path ?? LiteralPath) is not null && ModelRecords.Find(policy, Name) is { } live && BackupAiModelCommand.SamePath(live.Path, destination))
            throw new ArgumentException($"-Destination '{destination}' is model {Name}'s own path: a part of a version (-Path, -LiteralPath) would replace the whole model with that part. Give another directory.");
        // A part goes into a directory of its own: one that exists must be empty (the restore swaps it out whole, so
        // anything in it, a link to the live model or that model's parent included, would be replaced by the part).
        if ((Path ?? LiteralPath) is not null && Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
            throw new ArgumentException($"-Destination '{destination}' is not empty: a part of a version (-Path, -LiteralPath) goes into a new or empty directory, never over other files.");
        if (!await ShouldProcessAsync(destination, $"Replace with model {Name} version {manifest.Version} ({manifest.Files.Count} files{(Offsite is null ? "" : $", fetched from offsite {Offsite}")}); the current directory is kept until validation passes"))
            return;
        if (store is not null && key is not null)
        {
            fetched = BackupTools.Engine.Repository.ScratchDirectory.Create(policy.Repository, "offsite-model-" + manifest.Name);
            WriteProgressAsync(new ProgressRecord(1, $"Fetching model {manifest.Name} {manifest.Version} from offsite {Offsite}", "Downloading and decrypting"));
            try { await BackupTools.Engine.Offsite.OffsiteModels.FetchVersionAsync(store, key, manifest, fetched.Path, WriteVerboseAsync, CancelToken); }
            catch
            {
                fetched.Dispose();
                throw;
            }
            repository = fetched.Path;
        }
        try { await RestoreAsync(policy, repository, manifest, destination); }
        finally { fetched?.Dispose(); }
    }

    private async Task RestoreAsync(BackupPolicy policy, string repository, ModelManifest manifest, string destination)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Func<string, Task<bool>>? validate = ValidationScript is null ? null : dir => InvokeOnPipelineAsync(() =>
        {
            var output = ValidationScript.Invoke(dir);
            return output.Count > 0 && LanguagePrimitives.IsTrue(output[^1]);
        });
        var result = await ModelRestore.RunAsync(repository, manifest, destination, validate, WriteVerboseAsync, CancelToken,
            keepSpecialBits: policy.Models.FirstOrDefault(m => string.Equals(m.Name, manifest.Name, StringComparison.OrdinalIgnoreCase))?.KeepSpecialBits ?? false);
        if (ModelRecords.Find(policy, manifest.Name) is { } model && BackupAiModelCommand.SamePath(model.Path, result.Destination))
            BackupAiModelCommand.NoteDeployment(WriteWarningAsync, policy, manifest.Name, manifest, DateTime.UtcNow, "restore");
        WriteObjectAsync(new ModelRestoreResult
        {
            Name = Name, Version = manifest.Version, Destination = result.Destination, Validated = result.Validated, Steps = result.Steps, Duration = clock.Elapsed,
        });
    }
}
