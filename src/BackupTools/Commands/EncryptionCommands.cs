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
