using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Elasticsearch;

public sealed record EsRestoreRequest
{
    public required string RepositoryRoot { get; init; }
    public required TargetPolicy Target { get; init; }
    public required DateTime PointInTime { get; init; }
    /// <summary>Index names or patterns to restore (a subset of the snapshot's); all of them when empty.</summary>
    public IReadOnlyList<string> Index { get; init; } = [];
    public string? RenamePattern { get; init; }
    public string? RenameReplacement { get; init; }
    /// <summary>Close open indices of the same names first (the restore then overwrites them).</summary>
    public bool Replace { get; init; }
    public string? Password { get; init; }
    public Action<string>? Log { get; init; }
}

public sealed class EsRestoreConflictException(string message) : Exception(message);

/// <summary>What an Elasticsearch restore would do: the snapshot, and each index's name in the cluster and whether an open one blocks it.</summary>
public sealed record EsRestorePlan(CatalogEntry Snapshot, IReadOnlyList<(string Source, string Target)> Indices, IReadOnlyList<string> OpenConflicts);

/// <summary>
/// Restores the newest successful snapshot at or before T (snapshot precision). An open index with a restored name
/// blocks a restore; we find those first and refuse with their names unless Replace (close them, then restore over
/// them) or a rename is given, so a restore never fails half way on a conflict.
/// </summary>
public static class EsSnapshotRestore
{
    /// <summary>The restore's steps: close the open indices it replaces (with -Replace, when there are any), then restore.</summary>
    public static readonly string[] StepNames = ["close the open indices it replaces", "restore"];

    public static CatalogEntry Choose(string repositoryRoot, string target, DateTime pointInTime) =>
        BackupCatalog.NewestSnapshot(repositoryRoot, EsSnapshotBackup.Engine, target, pointInTime);

    public static string Describe(CatalogEntry s, DateTime pointInTime) =>
        $"snapshot {s.Manifest.EngineFields.GetValueOrDefault(EsFields.Snapshot)} in {s.Manifest.EngineFields.GetValueOrDefault(EsFields.Repository)} " +
        $"(taken between {BackupRecords.FormatTime(s.Manifest.StartTime)} and {BackupRecords.FormatTime(s.Manifest.EndTime)}; snapshot precision, no replay)";

    public static async Task<EsRestorePlan> PlanAsync(EsRestoreRequest request, CancellationToken ct)
    {
        var snapshot = Choose(request.RepositoryRoot, request.Target.Name, request.PointInTime);
        var all = snapshot.Manifest.EngineFields.GetValueOrDefault(EsFields.Indices, "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var chosen = request.Index.Count == 0 ? all.ToList() : all.Where(i => request.Index.Any(p => Glob(p).IsMatch(i))).ToList();
        if (chosen.Count == 0)
            throw new EsRestoreConflictException($"None of the snapshot's indices ({string.Join(", ", all)}) matches -Index {string.Join(", ", request.Index)}.");
        var pairs = chosen.Select(i => (i, request.RenamePattern is null ? i : Regex.Replace(i, request.RenamePattern, request.RenameReplacement ?? ""))).ToList();
        var es = EsConnection.Create(request.Target, request.Password, TimeSpan.FromSeconds(60));
        var existing = EsConnection.Expect(await es.GetAsync("/_cat/indices?format=json&h=index,status&expand_wildcards=all", ct), "Listing indices") as JsonArray ?? [];
        var open = existing.Where(e => e?["status"]?.GetValue<string>() == "open").Select(e => e!["index"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        return new EsRestorePlan(snapshot, pairs, pairs.Select(p => p.Item2).Where(open.Contains).ToList());
    }

    public static async Task<RestoreResult> RunAsync(EsRestoreRequest request, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var reader = TargetLock.AcquireReader(request.RepositoryRoot, EsSnapshotBackup.Engine, request.Target.Name);
        var plan = await PlanAsync(request, ct);
        var fields = plan.Snapshot.Manifest.EngineFields;
        var repo = fields[EsFields.Repository];
        var name = fields[EsFields.Snapshot];
        var es = EsConnection.Create(request.Target, request.Password, TimeSpan.FromMinutes(30));
        var steps = new List<RestoreStep>();
        // The names are StepNames'; -WhatIf lists the same.
        if (plan.OpenConflicts.Count > 0)
        {
            if (!request.Replace)
                throw new EsRestoreConflictException(
                    $"Open indices would be overwritten: {string.Join(", ", plan.OpenConflicts)}. Restore beside them with -RenamePattern '(.+)' -RenameReplacement 'restored-$1', or give -Replace to close them and restore over them.");
            foreach (var index in plan.OpenConflicts)
            {
                EsConnection.Expect(await es.PostAsync($"/{index}/_close", null, ct), $"Closing index {index}");
                request.Log?.Invoke($"Closed {index} so the restore can replace it");
            }
            steps.Add(new RestoreStep($"close {plan.OpenConflicts.Count} open index(es)", clock.Elapsed));
        }
        var body = new JsonObject
        {
            ["indices"] = string.Join(',', plan.Indices.Select(p => p.Source)), ["include_global_state"] = false, ["include_aliases"] = true,
        };
        if (request.RenamePattern is not null)
        {
            body["rename_pattern"] = request.RenamePattern;
            body["rename_replacement"] = request.RenameReplacement ?? "";
        }
        var reply = await es.PostAsync($"/_snapshot/{repo}/{name}/_restore?wait_for_completion=true", body, ct);
        if (reply.Status == 500 && EsConnection.ErrorType(reply.Body) == "snapshot_restore_exception")
            throw new EsRestoreConflictException($"Elasticsearch refused the restore: {EsConnection.Reason(reply.Body)}");
        var result = EsConnection.Expect(reply, $"Restoring snapshot {name}")?["snapshot"];
        var shards = result?["shards"];
        var failed = shards?["failed"]?.GetValue<int>() ?? 0;
        var total = shards?["total"]?.GetValue<int>() ?? 0;
        var restored = (result?["indices"] as JsonArray ?? []).Select(i => i!.GetValue<string>()).ToList();
        steps.Add(new RestoreStep("restore", clock.Elapsed));
        if (failed > 0)
            throw new EsSnapshotFailedException($"Restoring snapshot {name}: {failed} of {total} shards failed. Check GET _cat/recovery and the cluster log.");
        return new RestoreResult
        {
            Target = request.Target.Name, PointInTime = request.PointInTime, Plan = Describe(plan.Snapshot, request.PointInTime),
            Destination = $"{request.Target.Url} indices {string.Join(", ", restored)}", Steps = steps, Duration = clock.Elapsed,
            Validated = true, Validation = $"{total.ToString(CultureInfo.InvariantCulture)} shard(s) restored, none failed",
            RestoredTo = plan.Snapshot.Manifest.EndTime,
        };
    }

    private static Regex Glob(string pattern) => new("^" + Regex.Escape(pattern.Trim()).Replace("\\*", ".*") + "$");
}

/// <summary>
/// Deletes a snapshot from the cluster before retention removes its set. One delete at a time; "another snapshot
/// operation is running" (concurrent_snapshot_execution_exception, elasticsearch#51315) is retried with backoff.
/// </summary>
public static class EsSnapshotDelete
{
    public static IReadOnlyList<TimeSpan> RetryDelays { get; set; } =
        [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60)];

    public static async Task DeleteAsync(TargetPolicy target, string? password, CatalogEntry entry, Action<string>? log, CancellationToken ct)
    {
        var repo = entry.Manifest.EngineFields[EsFields.Repository];
        var name = entry.Manifest.EngineFields[EsFields.Snapshot];
        var es = EsConnection.Create(target, password, TimeSpan.FromMinutes(5));
        for (var attempt = 0; ; attempt++)
        {
            var reply = await es.DeleteAsync($"/_snapshot/{repo}/{name}", ct);
            if (reply.Status is >= 200 and < 300) return;
            if (reply.Status == 404 && EsConnection.ErrorType(reply.Body) == "snapshot_missing_exception")
            {
                log?.Invoke($"Snapshot {name} was already gone from {repo}");
                return;
            }
            if (EsConnection.ErrorType(reply.Body) == "concurrent_snapshot_execution_exception" && attempt < RetryDelays.Count)
            {
                log?.Invoke($"Deleting snapshot {name}: another snapshot operation runs; retrying in {RetryDelays[attempt].TotalSeconds:0} s");
                await Task.Delay(RetryDelays[attempt], ct);
                continue;
            }
            EsConnection.Expect(reply, $"Deleting snapshot {name} from {repo}");
        }
    }
}
