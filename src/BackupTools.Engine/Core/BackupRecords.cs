using System.Globalization;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Core;

/// <summary>Builds the <see cref="BackupRecord"/>s PowerShell sees from manifests and from failed attempts.</summary>
public static class BackupRecords
{
    public static BackupRecord FromCatalog(CatalogEntry entry, string? policyPath)
    {
        var m = entry.Manifest;
        var record = new BackupRecord
        {
            Id = m.Id, Engine = m.Engine, Target = m.Target, Type = m.Type, Status = BackupOutcome.Succeeded,
            StartTime = DateTime.SpecifyKind(m.StartTime, DateTimeKind.Utc), EndTime = DateTime.SpecifyKind(m.EndTime, DateTimeKind.Utc),
            Duration = TimeSpan.FromSeconds(m.DurationSeconds), RawBytes = m.RawBytes, StoredBytes = m.StoredBytes,
            Path = entry.Path, ParentId = m.ParentId, ServerVersion = m.ServerVersion, ToolVersion = m.ToolVersion, PolicyPath = policyPath,
        };
        // What only its engine knows (MariaDB: LSNs, binlog coordinates, timeline; Redis: how far the dump was checked).
        return EngineRegistry.ForName(m.Engine)?.Describe(record, m) ?? record;
    }

    /// <summary>
    /// An attempt that failed before it could start (its secret missing, say): a Failed record, journaled like any
    /// other failure, so Get-BackupStatus and the alerts see it.
    /// </summary>
    public static BackupAttempt FailedBeforeStart(string repositoryRoot, string engine, string target, string type, Exception error, string? policyPath)
    {
        var attempt = Failed(engine, target, type, null, DateTime.UtcNow, error, policyPath);
        try
        {
            RunJournal.Append(repositoryRoot, new JournalEntry
            {
                Time = attempt.Record.EndTime ?? DateTime.UtcNow, Engine = engine, Target = target, Type = type, Status = nameof(Engines.JournalStatus.Failed),
                Id = attempt.Record.Id, Error = error.Message, Host = Environment.MachineName, ProcessId = Environment.ProcessId,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return attempt with { Record = attempt.Record with { Error = $"{attempt.Record.Error} (Not journaled: {e.Message})" } };
        }
        return attempt;
    }

    public static BackupAttempt Failed(string engine, string target, string type, string? id, DateTime start, Exception error, string? policyPath)
    {
        var end = DateTime.UtcNow;
        return new BackupAttempt(new BackupRecord
        {
            Id = id ?? BackupSetWriter.NewId(start), Engine = engine, Target = target, Type = type, Status = BackupOutcome.Failed,
            StartTime = start, EndTime = end, Duration = end - start, Error = error.Message, PolicyPath = policyPath,
        }, error);
    }

    /// <summary>
    /// One attempt of any engine: takes the run (lock, leftovers, journal), lets <paramref name="body"/> write and commit
    /// the set, and turns every failure into a Failed record with its error; a busy target is a Failed record too.
    /// Ctrl+C propagates, after the run has journaled it as Cancelled.
    /// </summary>
    public static async Task<BackupAttempt> AttemptAsync(BackupRequest request, string engine, string type,
        Func<BackupRun, Task<BackupManifest>> body, CancellationToken ct)
    {
        var target = request.Target.Name;
        var start = DateTime.UtcNow;
        BackupRun run;
        try
        {
            run = BackupRun.Start(request.RepositoryRoot, engine, target, type, request.Log);
        }
        catch (TargetLockedException e)
        {
            return Failed(engine, target, type, null, start, e, request.PolicyPath);
        }
        await using (run)
        {
            try
            {
                var manifest = await body(run);
                return new BackupAttempt(FromCatalog(new CatalogEntry(manifest, run.Writer.FinalPath), request.PolicyPath), null);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                run.Fail(e);
                var failed = Failed(engine, target, type, run.Writer.Id, run.Writer.StartTime, e, request.PolicyPath);
                return run.JournalError is { } why ? failed with { Record = failed.Record with { Error = $"{failed.Record.Error} {why}" } } : failed;
            }
        }
    }

    /// <summary>
    /// The failed attempts the journal holds (Failed and Cancelled; not retention's Deleted lines, which are not
    /// attempts), as records.
    /// </summary>
    public static IEnumerable<BackupRecord> FailedFromJournal(string repositoryRoot, string? policyPath) =>
        RunJournal.Read(repositoryRoot)
            .Where(j => j.Status is nameof(JournalStatus.Failed) or nameof(JournalStatus.Cancelled))
            .Select(j => new BackupRecord
            {
                Id = j.Id ?? "", Engine = j.Engine, Target = j.Target, Type = j.Type, Status = BackupOutcome.Failed,
                StartTime = DateTime.SpecifyKind(j.Time, DateTimeKind.Utc).AddSeconds(-j.DurationSeconds),
                EndTime = DateTime.SpecifyKind(j.Time, DateTimeKind.Utc), Duration = TimeSpan.FromSeconds(j.DurationSeconds),
                Error = j.Status == nameof(JournalStatus.Cancelled) ? "Cancelled: " + j.Error : j.Error, PolicyPath = policyPath,
            });

    public static string FormatTime(DateTime utc) => Stamps.Iso(utc);

}
