using System.Management.Automation;
using BackupTools.Engine.Encryption;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// New-BackupEncryptionKey: writes a new random 256-bit key-encryption key to a file of mode 0600, never over an
/// existing file (the backups an old key encrypted would be lost with it).
/// </summary>
[Cmdlet(VerbsCommon.New, "BackupEncryptionKey", DefaultParameterSetName = "Default", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(EncryptionKeyInfo))]
public sealed class NewBackupEncryptionKeyCommand : AsyncPSCmdlet
{
    /// <summary>The key file to create; its directory must exist. The file must not.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    private string _path = "";

    protected override void PrepareRecord() => _path = PolicyCmdlet.ResolvePath(this, Path)!;

    protected override async Task ProcessRecordAsync()
    {
        if (File.Exists(_path) || Directory.Exists(_path))
        {
            WriteErrorAsync(new ErrorRecord(new IOException(
                $"'{_path}' exists: a key file is never overwritten, since the backups encrypted with that key could not be read without it. Give a new path."),
                "EncryptionKeyExists", ErrorCategory.ResourceExists, _path));
            return;
        }
        if (!await ShouldProcessAsync(_path, "Create a new backup encryption key (mode 0600)")) return;
        var key = EncryptionKey.Generate();
        key.WriteNew(_path);
        WriteObjectAsync(new EncryptionKeyInfo { Path = _path, KeyId = key.Id, Created = DateTime.UtcNow });
    }
}

/// <summary>
/// Update-BackupEncryptionKey: rotates the key-encryption key of an offsite repository. Each object's data key is
/// re-wrapped by the new key and kept in the object's metadata; no backup data is sent again. Then point the policy's
/// encryption.keyFile at the new key.
/// </summary>
[Cmdlet(VerbsData.Update, "BackupEncryptionKey", DefaultParameterSetName = "Default", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(EncryptionKeyRotation))]
public sealed class UpdateBackupEncryptionKeyCommand : PolicyCmdlet
{
    /// <summary>The new key file (from New-BackupEncryptionKey). The policy's current key is the old one.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string NewKeyPath { get; set; } = "";

    /// <summary>The offsite repository to rotate (a name under offsite: in the policy); may be left out when the policy has one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Offsite { get; set; }

    private string _newKeyPath = "";

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _newKeyPath = ResolvePath(this, NewKeyPath)!;
    }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        var (offsite, store, oldKey) = OpenOffsite(policy, Offsite);
        var newKey = EncryptionKey.Read(_newKeyPath);
        if (newKey.Id == oldKey.Id) throw new ArgumentException($"'{_newKeyPath}' is the policy's current key ({oldKey.Id}); give the new key New-BackupEncryptionKey wrote.");
        if (!await ShouldProcessAsync(store.Describe, $"Re-wrap every object's data key from key {oldKey.Id} to key {newKey.Id} (no data is sent again)")) return;
        WriteProgressAsync(new ProgressRecord(1, $"Rotating the key of offsite {offsite.Name}", "Re-wrapping data keys"));
        // The re-wrapped headers are locked as the objects are: deleting them would make locked copies unreadable once the old key is gone.
        DateTimeOffset? lockUntil = offsite.ImmutableDays is { } days ? DateTimeOffset.UtcNow.AddDays(days) : null;
        var r = await BackupTools.Engine.Offsite.OffsiteKeyRotation.RunAsync(store, oldKey, newKey, WriteVerboseAsync, CancelToken, lockUntil);
        foreach (var f in r.Failed) WriteWarningAsync($"Not rotated: {f}");
        WriteObjectAsync(new EncryptionKeyRotation
        {
            Offsite = offsite.Name, OldKeyId = oldKey.Id, NewKeyId = newKey.Id, Rewrapped = r.Rewrapped, AlreadyNew = r.AlreadyNew, Failed = r.Failed,
        });
        if (r.Failed.Count == 0)
            WriteHostAsync($"Offsite {offsite.Name}: every object is now readable with key {newKey.Id}. Set encryption.keyFile to {_newKeyPath} in {policy.Path}, " +
                           "then run this again (copies made in between are re-wrapped too). With encryption.local the sets keep their local key inside: " +
                           "list the old key in encryption.previousKeyFiles until they expire.");
    }
}
