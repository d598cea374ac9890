namespace BackupTools.Engine.Repository;

/// <summary>
/// One attempt to back up one target: holds the target's lock, clears what crashed runs left, gives out the set
/// writer, and journals the outcome whatever it is. Every backup kind goes through this, so each gets the same
/// crash and concurrency guarantees.
/// </summary>
public sealed class BackupRun : IAsyncDisposable
{
    private readonly string _root;
    private readonly TargetLock _lock;
    private readonly Action<string>? _log;
    private bool _journaled, _committed;

    private BackupRun(string root, TargetLock targetLock, BackupSetWriter writer, Action<string>? log)
    {
        _root = root;
        _lock = targetLock;
        _log = log;
        Writer = writer;
    }

    /// <summary>The set being written; <see cref="StartNext"/> replaces it with a new one under the same lock.</summary>
    public BackupSetWriter Writer { get; private set; }

    /// <summary>
    /// Backup types that run under a lock of their own, beside the target's main lock: archiving MariaDB binary logs
    /// every few minutes must not wait hours for a full backup, and neither touches the other's sets.
    /// </summary>
    public static string? LockScopeOf(string engine, string type) =>
        Engines.BackupTypes.TryParse(type) is { } t ? Engines.EngineRegistry.ForName(engine)?.LockScope(t) : null;

    /// <param name="log">Told about lock takeovers and cleaned-up partial sets.</param>
    public static BackupRun Start(string repositoryRoot, string engine, string target, string type, Action<string>? log = null)
    {
        FileModes.CreatePrivateDirectory(repositoryRoot);
        var start = DateTime.UtcNow;
        var scope = LockScopeOf(engine, type);
        TargetLock targetLock;
        try
        {
            targetLock = TargetLock.Acquire(repositoryRoot, engine, target, log, scope: scope);
        }
        catch (TargetLockedException e)
        {
            TryJournal(repositoryRoot, engine, target, type, start, "Failed", null, 0, e.Message, log);
            throw;
        }
        try
        {
            RemoveAbandonedPartials(repositoryRoot, engine, target, scope, log);
            return new BackupRun(repositoryRoot, targetLock, BackupSetWriter.Create(repositoryRoot, engine, target, type, start), log);
        }
        catch
        {
            targetLock.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public async Task<BackupManifest> CommitAsync(Func<BackupManifest, BackupManifest> describe,
        IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        var manifest = await Writer.CommitAsync(describe, progress, cancellationToken);
        // The set is published: the run succeeded, whatever the journal does. Status reads sets as well as the journal.
        TryJournal(_root, Writer.Engine, Writer.Target, Writer.Type, Writer.StartTime, "Succeeded", manifest.Id, manifest.StoredBytes, null, _log);
        _journaled = _committed = true;
        return manifest;
    }

    /// <summary>
    /// After a commit, begins another set of the same type under the same lock (binary log archiving publishes one
    /// set per file in one run, so no second run can archive the same file in between).
    /// </summary>
    public async Task StartNextAsync()
    {
        if (!_journaled) throw new InvalidOperationException($"Backup set {Writer.Id} is neither committed nor failed.");
        await Writer.DisposeAsync();
        Writer = BackupSetWriter.Create(_root, Writer.Engine, Writer.Target, Writer.Type, DateTime.UtcNow);
        _journaled = _committed = false;
    }

    /// <summary>Ends a run that had nothing (more) to publish, without journaling a failure for the unused set.</summary>
    public void CompleteWithoutSet() => _journaled = true;

    /// <summary>Why the journal could not be written in this run, if it could not (a full disk, say); the attempt's record says it too.</summary>
    public string? JournalError { get; private set; }

    /// <summary>Records a failed attempt (the set is removed on dispose). Never throws: cleanup and the Failed record come after it.</summary>
    public void Fail(Exception error)
    {
        if (_journaled) return;
        var status = error is OperationCanceledException ? "Cancelled" : "Failed";
        _journaled = true;
        JournalError ??= TryJournal(_root, Writer.Engine, Writer.Target, Writer.Type, Writer.StartTime, status, Writer.Id, 0, error.Message, _log);
    }

    /// <summary>
    /// Records a failure even when the current set was already committed (a run that publishes several sets failed
    /// between two of them): a fresh attempt is begun for it, so the failure is journaled and not lost.
    /// </summary>
    public async Task FailAsync(Exception error)
    {
        if (_committed) await StartNextAsync();
        Fail(error);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_journaled) Fail(new OperationCanceledException("The run ended without committing its backup set."));
        await Writer.DisposeAsync();
        await _lock.DisposeAsync();
    }

    /// <summary>
    /// Partial sets under our lock scope are from crashed runs: we hold that lock, so none is being written. Types of
    /// another scope are left alone, since a run under that lock may be writing them now.
    /// </summary>
    private static void RemoveAbandonedPartials(string root, string engine, string target, string? scope, Action<string>? log)
    {
        var targetDir = Path.Combine(root, engine, target);
        if (!Directory.Exists(targetDir)) return;
        foreach (var typeDir in Directory.EnumerateDirectories(targetDir))
        {
            if (LockScopeOf(engine, Path.GetFileName(typeDir)) != scope) continue;
            foreach (var partial in Directory.EnumerateDirectories(typeDir, "*" + BackupCatalog.PartialSuffix))
            {
                BackupSetWriter.RemovePartial(partial);
                log?.Invoke($"Removed '{partial}', left by a run that did not finish.");
            }
        }
    }

    /// <returns>null when the entry was written, else why not (also told to <paramref name="log"/>).</returns>
    private static string? TryJournal(string root, string engine, string target, string type, DateTime start, string status,
        string? id, long storedBytes, string? error, Action<string>? log)
    {
        try
        {
            RunJournal.Append(root, new JournalEntry
            {
                Time = DateTime.UtcNow, Engine = engine, Target = target, Type = type, Status = status, Id = id,
                DurationSeconds = Math.Round((DateTime.UtcNow - start).TotalSeconds, 3), StoredBytes = storedBytes,
                Error = error, Host = Environment.MachineName, ProcessId = Environment.ProcessId,
            });
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var why = $"The run journal in {Path.Combine(root, RunJournal.DirectoryName)} could not be written ({e.Message}); this {status} {engine} {type} run of {target} is not in it.";
            log?.Invoke(why);
            return why;
        }
    }
}
