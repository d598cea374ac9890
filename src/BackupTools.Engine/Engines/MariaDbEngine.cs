using System.Globalization;
using BackupTools.Engine.Core;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.Engines;

/// <summary>MariaDB: mariabackup full and incremental sets, archived binary logs (under a lock of their own), point-in-time restores.</summary>
internal sealed class MariaDbEngine : ITargetEngine
{
    public string Name => MariaDbCatalog.Engine;
    public TargetEngine Kind => TargetEngine.MariaDb;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Full, BackupType.Incremental, BackupType.Binlog];

    // Archiving binary logs every few minutes must not wait hours for a full backup, and neither touches the other's sets.
    public string? LockScope(BackupType type) => type == BackupType.Binlog ? "binlog" : null;

    public BackupRecord Describe(BackupRecord record, BackupManifest manifest) =>
        record.Timeline is null && manifest.Type == BackupType.Binlog.Name() ? record with { Timeline = 1 } : record; // before timelines were recorded

    public string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options) =>
        !Types.Contains(type) ? $"Target '{target.Name}' is a MariaDB target; use -Type Full, Incremental or Binlog."
        : options.Method is not null ? $"-Method is for Redis targets; '{target.Name}' is a MariaDb target."
        : null;

    public async Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct) =>
        type == BackupType.Binlog ? await BinlogArchiver.RunAsync(request, ct) : [await MariaDbBackup.RunAsync(request, type.Name(), ct)];

    public async Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct)
    {
        await using var connection = MariaDbConnections.Create(target, secret, timeout);
        await connection.OpenAsync(ct);
        await using var command = new MySqlCommand("SELECT VERSION()", connection);
        return Convert.ToString(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture)!;
    }

    public IReadOnlyList<string> RestoreSteps(bool replace) =>
        replace ? PointInTimeRestore.StepNames : PointInTimeRestore.StepNames.Where(s => !PointInTimeRestore.ReplaceOnlySteps.Contains(s)).ToList();
}
