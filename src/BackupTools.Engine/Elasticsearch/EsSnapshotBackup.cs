using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.Elasticsearch;

public sealed class EsRepositoryMissingException(string message) : Exception(message);
public sealed class EsSnapshotFailedException(string message) : Exception(message);

/// <summary>Names of the Elasticsearch fields in a manifest's engineFields.</summary>
public static class EsFields
{
    public const string Repository = "repository", Snapshot = "snapshot", Uuid = "uuid", Indices = "indices", State = "state";
    public const string ShardsTotal = "shardsTotal", ShardsSuccessful = "shardsSuccessful", ShardsFailed = "shardsFailed";
}

/// <summary>
/// Elasticsearch snapshots: the data stays in the cluster's snapshot repository (Elasticsearch copies segments there
/// itself, incrementally); the backup set in our repository records the snapshot (name, uuid, indices, shard counts,
/// state, and the cluster's own description of it in snapshot.json), so the catalog, status, alerts, retention and
/// restore treat it like every other backup. Only a SUCCESS snapshot becomes a set; PARTIAL and FAILED are Failed
/// records with the shard failures.
/// </summary>
public static class EsSnapshotBackup
{
    public const string Engine = "elasticsearch";
    public const string Snapshot = "snapshot";
    public const string InfoFileName = "snapshot.json";

    /// <summary>How often the snapshot's state is polled; tests shorten it.</summary>
    public static TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>&lt;target&gt;-&lt;UTC time&gt;-&lt;set id suffix&gt;, lower case as Elasticsearch requires: unique even for two runs in one second, and it names its set.</summary>
    public static string SnapshotName(string target, string setId) => $"{target}-{setId}".ToLowerInvariant();

    public static Task<BackupAttempt> RunAsync(BackupRequest request, CancellationToken ct) =>
        BackupRecords.AttemptAsync(request, Engine, Snapshot, run => BackupAsync(run, request, ct), ct);

    private static async Task<BackupManifest> BackupAsync(BackupRun run, BackupRequest request, CancellationToken ct)
    {
        var target = request.Target;
        var es = EsConnection.Create(target, request.Password, TimeSpan.FromSeconds(60));
        var repo = target.SnapshotRepository!;
        await EnsureRepositoryAsync(es, target, request.Log, ct);

        var name = SnapshotName(target.Name, run.Writer.Id);
        var indices = target.Indices.Count > 0 ? string.Join(',', target.Indices) : "*";
        EsConnection.Expect(await es.PutAsync($"/_snapshot/{repo}/{name}?wait_for_completion=false",
            new JsonObject { ["indices"] = indices, ["include_global_state"] = false, ["metadata"] = new JsonObject { ["taken_by"] = "BackupTools" } }, ct),
            $"Creating snapshot {name} in repository {repo}");
        request.Log?.Invoke($"Snapshot {name} of '{indices}' started in repository {repo}");

        JsonNode info;
        try
        {
            info = await WaitAsync(es, repo, name, request.Progress, ct);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: abort the snapshot in the cluster too (deleting a running snapshot stops it), without waiting long.
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await es.DeleteAsync($"/_snapshot/{repo}/{name}", cleanup.Token); } catch (Exception) { /* best effort */ }
            throw;
        }
        var state = info["state"]?.GetValue<string>();
        var shards = info["shards"];
        int Shards(string key) => shards?[key]?.GetValue<int>() ?? 0;
        if (state != "SUCCESS")
        {
            var failures = (info["failures"] as JsonArray ?? []).Select(f => $"{f?["index"]}[{f?["shard_id"]}]: {f?["reason"]}").Take(10).ToList();
            throw new EsSnapshotFailedException($"Snapshot {name} ended {state}: {Shards("failed")} of {Shards("total")} shards failed" +
                (failures.Count > 0 ? ": " + string.Join("; ", failures) : "") + ". It is not counted as a backup; fix the shards (closed or red indices) and run again.");
        }

        var taken = (info["indices"] as JsonArray ?? []).Count;
        if (!target.AllowEmpty && (taken == 0 || Shards("total") == 0))
        {
            // The empty snapshot would be in no set, so retention would never remove it: delete it now (best effort).
            try { await es.DeleteAsync($"/_snapshot/{repo}/{name}", ct); } catch (Exception e) when (e is not OperationCanceledException) { }
            throw new EmptyBackupException(target.Name,
                $"the snapshot {name} holds {taken} indices and {Shards("total")} shards: the index pattern '{indices}' matched nothing");
        }
        var bytes = Encoding.UTF8.GetBytes(info.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        await run.Writer.AddFileAsync(InfoFileName, new MemoryStream(bytes), CompressionOptions.None, null, ct);
        var names = (info["indices"] as JsonArray ?? []).Select(i => i!.GetValue<string>()).Order(StringComparer.Ordinal).ToList();
        var fields = new Dictionary<string, string>
        {
            [EsFields.Repository] = repo, [EsFields.Snapshot] = name, [EsFields.Uuid] = info["uuid"]?.GetValue<string>() ?? "",
            [EsFields.Indices] = string.Join(',', names), [EsFields.State] = state,
            [EsFields.ShardsTotal] = Shards("total").ToString(CultureInfo.InvariantCulture),
            [EsFields.ShardsSuccessful] = Shards("successful").ToString(CultureInfo.InvariantCulture),
            [EsFields.ShardsFailed] = Shards("failed").ToString(CultureInfo.InvariantCulture),
        };
        request.Log?.Invoke($"Snapshot {name}: {state}, {names.Count} indices, {Shards("successful")}/{Shards("total")} shards");
        return await run.CommitAsync(m => m with { ServerVersion = info["version"]?.GetValue<string>(), ToolVersion = "snapshot API", EngineFields = fields }, null, ct);
    }

    /// <summary>The policy's repository must exist; it is registered when the policy gives its settings.</summary>
    private static async Task EnsureRepositoryAsync(EsConnection es, TargetPolicy target, Action<string>? log, CancellationToken ct)
    {
        var repo = target.SnapshotRepository!;
        var reply = await es.GetAsync($"/_snapshot/{repo}", ct);
        if (reply.Status == 200) return;
        if (reply.Status != 404) EsConnection.Expect(reply, $"Looking up snapshot repository {repo}");
        if (!target.SnapshotRepositorySettings.TryGetValue("type", out var type))
            throw new EsRepositoryMissingException(
                $"The cluster at {es.Url} has no snapshot repository '{repo}'. Register it (PUT _snapshot/{repo} with its type and settings), " +
                $"or give targets.{target.Name}.snapshotRepositorySettings in the policy, e.g. {{ type: fs, location: /mnt/es-backups }} (an fs location must be listed in path.repo on every node).");
        var settings = new JsonObject();
        foreach (var (k, v) in target.SnapshotRepositorySettings.Where(kv => kv.Key != "type")) settings[k] = v;
        EsConnection.Expect(await es.PutAsync($"/_snapshot/{repo}", new JsonObject { ["type"] = type, ["settings"] = settings }, ct),
            $"Registering snapshot repository {repo} ({type})");
        log?.Invoke($"Registered snapshot repository {repo} ({type})");
    }

    private static async Task<JsonNode> WaitAsync(EsConnection es, string repo, string name, IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        while (true)
        {
            var info = (EsConnection.Expect(await es.GetAsync($"/_snapshot/{repo}/{name}", ct), $"Reading snapshot {name}")?["snapshots"] as JsonArray)?.FirstOrDefault()
                ?? throw new EsSnapshotFailedException($"Snapshot {name} is not listed in repository {repo}.");
            if (info["state"]?.GetValue<string>() is not ("IN_PROGRESS" or "STARTED" or "INIT"))
                return info;
            try
            {
                var status = (EsConnection.Expect(await es.GetAsync($"/_snapshot/{repo}/{name}/_status", ct), "status")?["snapshots"] as JsonArray)?.FirstOrDefault();
                var stats = status?["shards_stats"];
                if (stats is not null) progress?.Report(new TransferProgress("Shards", stats["done"]!.GetValue<long>(), stats["total"]!.GetValue<long>()));
            }
            catch (EsRequestException) { /* progress is optional */ }
            await Task.Delay(PollInterval, ct);
        }
    }
}
