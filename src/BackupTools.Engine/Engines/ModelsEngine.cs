using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>AI models: versions of a model directory in a content-addressed blob store (models/&lt;name&gt;/).</summary>
internal sealed class ModelsEngine : IBackupEngine
{
    public string Name => ModelBackup.Engine;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Model];
    public string? LockScope(BackupType type) => null;
    public BackupRecord Describe(BackupRecord record, BackupManifest manifest) => record;
}
