using System.Globalization;
using BackupTools.Engine.Core;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.Engines;

/// <summary>MariaDB: mariabackup full and incremental sets, archived binary logs (under a lock of their own), point-in-time restores.</summary>
internal sealed partial class MariaDbEngine : ITargetEngine
{
    public string Name => MariaDbCatalog.Engine;
    public TargetEngine Kind => TargetEngine.MariaDb;
    public IReadOnlyList<BackupType> Types { get; } = [BackupType.Full, BackupType.Incremental, BackupType.Binlog];

    // Archiving binary logs every few minutes must not wait hours for a full backup, and neither touches the other's sets.
    public string? LockScope(BackupType type) => type == BackupType.Binlog ? "binlog" : null;

    public BackupRecord Describe(BackupRecord record, BackupManifest manifest)
    {
        var f = manifest.EngineFields;
        return record with
        {
            FromLsn = f.GetValueOrDefault(EngineFieldNames.FromLsn), ToLsn = f.GetValueOrDefault(EngineFieldNames.ToLsn),
            BinlogFile = f.GetValueOrDefault(EngineFieldNames.BinlogFile),
            BinlogPosition = f.TryGetValue(EngineFieldNames.BinlogPosition, out var p) ? long.Parse(p, CultureInfo.InvariantCulture) : null,
            Gtid = f.GetValueOrDefault(EngineFieldNames.Gtid),
            // Binlog sets archived before timelines were recorded are on the first one.
            Timeline = f.TryGetValue(EngineFieldNames.Timeline, out var tl) && int.TryParse(tl, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : manifest.Type == BackupType.Binlog.Name() ? 1 : null,
            FirstEventTime = Time(f, EngineFieldNames.FirstEventTime), LastEventTime = Time(f, EngineFieldNames.LastEventTime),
        };
    }

    private static DateTime? Time(IReadOnlyDictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var text)
            ? DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)
            : null;

    public void ValidatePolicy(TargetKeys keys, Action<string?, string> problem)
    {
        if (keys.Socket is null && (keys.Host is null || keys.Port is null))
            problem(null, "needs 'socket', or both 'host' and 'port', to reach the server");
        EngineDefaults.Foreign(keys, problem, EngineDefaults.ElasticsearchKeys.Select(k => (k, $"is for elasticsearch targets, not {Name}"))
            .Append(("startCommand", "is for redis targets (how Restore-DbToPointInTime -Replace starts the server again)")));
    }

    public string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options) =>
        !Types.Contains(type) ? $"Target '{target.Name}' is a MariaDB target; use -Type Full, Incremental or Binlog."
        : options.Method is not null ? $"-Method is for Redis targets; '{target.Name}' is a MariaDb target."
        : null;

    public bool CanStream => true;

    public Task StreamAsync(BackupRequest request, Action<BackupAttempt> sealedSet, CancellationToken ct) => BinlogStream.RunAsync(request, sealedSet, ct);

    public async Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct) =>
        type == BackupType.Binlog ? await BinlogArchiver.RunAsync(request, ct) : [await MariaDbBackup.RunAsync(request, type.Name(), ct)];

    public async Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct)
    {
        await using var connection = MariaDbConnections.Create(target, secret, timeout);
        await connection.OpenAsync(ct);
        await using var command = new MySqlCommand("SELECT VERSION()", connection);
        return Convert.ToString(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture)!;
    }

    public bool RemovesFromServer => false;
    public Func<CatalogEntry, CancellationToken, Task>? ServerRemoval(TargetPolicy target, string? secret, Action<string>? log) => null;
    public string RetentionSummary(Retention.RetentionOutcome outcome) =>
        $"recoverable window before: {Retention.RetentionRunner.Describe(outcome.WindowBefore)}; after: {Retention.RetentionRunner.Describe(outcome.WindowAfter)}";

    public bool CanPrepare(BackupManifest manifest) => manifest.Type is MariaDbCatalog.Full or MariaDbCatalog.Incremental;

    public async Task PrepareAsync(string repositoryRoot, CatalogEntry entry, TargetPolicy? target, EngineCallbacks callbacks, CancellationToken ct)
    {
        var chain = MariaDbCatalog.Chain(repositoryRoot, entry);
        using var scratch = ScratchDirectory.Create(repositoryRoot, "test-" + entry.Manifest.Id);
        try
        {
            await BackupPreparer.PrepareChainAsync(chain.Select(MariaDbBackup.ToLink).ToList(), scratch,
                callbacks.Progress?.Invoke($"Testing {entry.Manifest.Target} {entry.Manifest.Type} {entry.Manifest.Id}", 1), callbacks.Log, ct, new MariaDbTools(target?.ToolsDir));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException("mariabackup --prepare of its chain failed: " + e.Message, e);
        }
    }

    public async Task<RestoreResult?> TestRestoreAsync(string repositoryRoot, string target, TargetPolicy? policyTarget, DateTime? pointInTime,
        EngineCallbacks callbacks, CancellationToken ct)
    {
        var tools = new MariaDbTools(policyTarget?.ToolsDir);
        DateTime point;
        if (pointInTime is { } p) point = p;
        else
        {
            // A random moment some backup serves: the window can have stretches no restore reaches (a timeline switch
            // before its first full backup), and a test restore there would raise a false alarm. And only what the tools
            // at hand can restore: after a server upgrade the older release's backups need that release's mariabackup.
            var (release, _) = await tools.MariaBackupReleaseAsync(ct);
            var spans = RestorePlanner.Spans(repositoryRoot, target, m => MariaDbTools.Release(m.ServerVersion) is not { } r || r == release);
            if (RestorePlanner.Spans(repositoryRoot, target).Count > spans.Count || spans.Count == 0)
                callbacks.Warn?.Invoke($"Target {target}: some backups were made by another MariaDB release than this host's mariabackup ({release}); " +
                                       "restores to their times need that release's tools (toolsDir) and are not tested here.");
            if (spans.Count == 0)
                throw new InvalidOperationException($"Target {target} has no backup of MariaDB {release}, the release of the mariabackup here: nothing to test a restore with. Set toolsDir on the target to the release the backups were made with.");
            point = RestorePlanner.RandomPoint(spans, callbacks.Random);
            callbacks.Log?.Invoke($"Restorable spans of {target}: {string.Join("; ", spans.Select(s => $"{s.From:u} to {s.To:u} (timeline {s.Timeline})"))}; testing a restore to {point:u}");
        }
        var planned = RestorePlanner.Plan(repositoryRoot, target, point);
        using var scratch = ScratchDirectory.Create(repositoryRoot, "test-restore-" + target);
        var activity = $"Test restore of {target} to {point:u}";
        var result = await PointInTimeRestore.RunAsync(new RestoreRequest
        {
            Planned = planned, Destination = Path.Combine(scratch.Path, "data"), Validation = RestoreValidation.CheckTable, Tools = tools,
            Log = callbacks.Log, Progress = callbacks.Progress?.Invoke(activity, 2),
            StepStarted = name => callbacks.Step?.Invoke(activity, name),
        }, ct);
        callbacks.Step?.Invoke(activity, null);
        return result;
    }

    public IReadOnlyList<string> RestoreSteps(bool replace) =>
        replace ? PointInTimeRestore.StepNames : PointInTimeRestore.StepNames.Where(s => !PointInTimeRestore.ReplaceOnlySteps.Contains(s)).ToList();
}
