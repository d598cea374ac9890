using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BackupTools.TestServers;

/// <summary>One request the fake received: method, path with query, and body.</summary>
public sealed record EsRequest(string Method, string Path, string? Body)
{
    public override string ToString() => $"{Method} {Path}";
}

/// <summary>
/// A loopback HTTP server that answers the Elasticsearch REST calls we make with the shapes the Elasticsearch
/// documentation gives for them (no real cluster can be installed here): the root info, snapshot repositories,
/// snapshot create/get/status/restore/delete, _cat/indices and index close. It sends the X-Elastic-Product header
/// the official client checks, and records every request so tests can assert what the module sent. Scenarios:
/// a snapshot that stays IN_PROGRESS for some polls, ends PARTIAL or FAILED, deletes refused while "another snapshot
/// operation" runs, and a required Authorization header.
/// </summary>
public sealed class FakeElasticsearch : LoopbackHttpServer
{
    public const string Version = "9.1.0";

    /// <summary>Method and path of every request, in order (kept for the older tests).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();
    public ConcurrentQueue<EsRequest> Received { get; } = new();

    public ConcurrentDictionary<string, JsonObject> Repositories { get; } = new();
    /// <summary>Index name → "open" or "close".</summary>
    public ConcurrentDictionary<string, string> Indices { get; } = new();
    private readonly ConcurrentDictionary<string, Snapshot> _snapshots = new();

    /// <summary>How many status polls a new snapshot stays IN_PROGRESS.</summary>
    public int PollsInProgress { get; set; } = 2;
    /// <summary>The state new snapshots end in: SUCCESS, PARTIAL or FAILED.</summary>
    public string NextSnapshotState { get; set; } = "SUCCESS";
    /// <summary>How many DELETE snapshot calls are refused with concurrent_snapshot_execution_exception first.</summary>
    public int ConcurrentDeleteRefusals { get; set; }
    /// <summary>When set, every request must carry exactly this Authorization header, else 401.</summary>
    public string? RequiredAuthorization { get; set; }

    private sealed class Snapshot
    {
        public required string Repository { get; init; }
        public required string Name { get; init; }
        public required string Uuid { get; init; }
        public required List<string> IndexNames { get; init; }
        public required string FinalState { get; init; }
        public required long Start { get; init; }
        public int PollsLeft;
        public long End;
    }

    public static FakeElasticsearch Start() => new();

    public IReadOnlyList<string> SnapshotNames(string repository) =>
        _snapshots.Values.Where(s => s.Repository == repository).Select(s => s.Name).Order(StringComparer.Ordinal).ToList();

    protected override async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        string? body = null;
        if (request.HasEntityBody)
        {
            // The official client gzips request bodies (Content-Encoding: gzip), as Elasticsearch accepts them.
            Stream input = request.Headers["Content-Encoding"] == "gzip"
                ? new System.IO.Compression.GZipStream(request.InputStream, System.IO.Compression.CompressionMode.Decompress)
                : request.InputStream;
            using var reader = new StreamReader(input, Encoding.UTF8);
            body = await reader.ReadToEndAsync();
        }
        var path = request.Url!.AbsolutePath;
        Requests.Enqueue($"{request.HttpMethod} {path}");
        Received.Enqueue(new EsRequest(request.HttpMethod, request.Url.PathAndQuery, body));
        int status;
        string reply;
        if (RequiredAuthorization is not null && request.Headers["Authorization"] != RequiredAuthorization)
            (status, reply) = (401, Error("security_exception", "unable to authenticate user [elastic] for REST request [" + path + "]"));
        else
        {
            try { (status, reply) = Route(request.HttpMethod, path, body); }
            catch (Exception e) { (status, reply) = (500, Error("fake_exception", e.ToString())); } // fail fast, never hang the client
        }
        var bytes = Encoding.UTF8.GetBytes(reply);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["X-Elastic-Product"] = "Elasticsearch";
        context.Response.ContentLength64 = bytes.Length;
        context.Response.OutputStream.Write(bytes);
        context.Response.Close();
    }

    private (int, string) Route(string method, string path, string? body)
    {
        var parts = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        return (method, parts) switch
        {
            ("GET" or "HEAD", []) => (200, $$"""
                {"name":"fake-node","cluster_name":"backuptools-test","cluster_uuid":"fake-uuid",
                 "version":{"number":"{{Version}}","build_flavor":"default","build_type":"tar","build_hash":"0",
                 "build_date":"2026-01-01T00:00:00.000Z","build_snapshot":false,"lucene_version":"10.2.0",
                 "minimum_wire_compatibility_version":"8.19.0","minimum_index_compatibility_version":"8.0.0"},
                 "tagline":"You Know, for Search"}
                """),
            ("GET", ["_snapshot", var repo]) => Repositories.TryGetValue(repo, out var r)
                ? (200, new JsonObject { [repo] = r.DeepClone() }.ToJsonString())
                : (404, Error("repository_missing_exception", $"[{repo}] missing")),
            ("PUT", ["_snapshot", var repo]) => RegisterRepository(repo, body),
            ("POST", ["_snapshot", var repo, "_verify"]) => Repositories.ContainsKey(repo)
                ? (200, """{"nodes":{"fake-node-id":{"name":"fake-node"}}}""")
                : (404, Error("repository_missing_exception", $"[{repo}] missing")),
            ("PUT" or "POST", ["_snapshot", var repo, var snap]) => CreateSnapshot(repo, snap, body),
            ("GET", ["_snapshot", var repo, var snap]) => GetSnapshot(repo, snap),
            ("GET", ["_snapshot", var repo, var snap, "_status"]) => SnapshotStatus(repo, snap),
            ("POST", ["_snapshot", var repo, var snap, "_restore"]) => Restore(repo, snap, body),
            ("DELETE", ["_snapshot", var repo, var snap]) => DeleteSnapshot(repo, snap),
            ("GET", ["_cat", "indices"]) => (200, new JsonArray(Indices.OrderBy(i => i.Key, StringComparer.Ordinal)
                .Select(i => (JsonNode)new JsonObject { ["index"] = i.Key, ["status"] = i.Value }).ToArray()).ToJsonString()),
            ("POST", [var index, "_close"]) => Close(index),
            _ => (404, Error("resource_not_found_exception", $"fake has no {method} {path}")),
        };
    }

    private (int, string) RegisterRepository(string repo, string? body)
    {
        var json = JsonNode.Parse(body ?? "{}") as JsonObject;
        if (json?["type"] is null) return (400, Error("action_request_validation_exception", "Validation Failed: 1: type is missing;"));
        Repositories[repo] = json;
        return (200, """{"acknowledged":true}""");
    }

    private (int, string) CreateSnapshot(string repo, string name, string? body)
    {
        if (!Repositories.ContainsKey(repo)) return (404, Error("repository_missing_exception", $"[{repo}] missing"));
        if (_snapshots.ContainsKey(repo + "/" + name))
            return (400, Error("invalid_snapshot_name_exception", $"[{repo}:{name}] Invalid snapshot name [{name}], snapshot with the same name already exists"));
        var json = JsonNode.Parse(body ?? "{}");
        var patterns = (json?["indices"]?.GetValue<string>() ?? "*").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var names = Indices.Keys.Where(i => patterns.Any(p => Glob(p).IsMatch(i))).Order(StringComparer.Ordinal).ToList();
        _snapshots[repo + "/" + name] = new Snapshot
        {
            Repository = repo, Name = name, Uuid = Guid.NewGuid().ToString("N")[..22], IndexNames = names, FinalState = NextSnapshotState,
            Start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), PollsLeft = PollsInProgress,
        };
        return (200, """{"accepted":true}""");
    }

    private (int, string) GetSnapshot(string repo, string name)
    {
        if (!_snapshots.TryGetValue(repo + "/" + name, out var s))
            return (404, Error("snapshot_missing_exception", $"[{repo}:{name}] is missing"));
        var state = Advance(s);
        var total = s.IndexNames.Count;
        var failed = state switch { "PARTIAL" => 1, "FAILED" => total, _ => 0 };
        var info = new JsonObject
        {
            ["snapshot"] = s.Name, ["uuid"] = s.Uuid, ["repository"] = repo, ["version_id"] = 9010099, ["version"] = Version,
            ["indices"] = new JsonArray(s.IndexNames.Select(i => (JsonNode)JsonValue.Create(i)!).ToArray()),
            ["data_streams"] = new JsonArray(), ["include_global_state"] = false, ["state"] = state,
            ["start_time_in_millis"] = s.Start,
            ["failures"] = new JsonArray(s.IndexNames.Take(failed).Select(i => (JsonNode)new JsonObject
            {
                ["index"] = i, ["index_uuid"] = i, ["shard_id"] = 0, ["reason"] = "IndexShardSnapshotFailedException[shard is closed]", ["node_id"] = "fake-node", ["status"] = "INTERNAL_SERVER_ERROR",
            }).ToArray()),
            ["shards"] = new JsonObject { ["total"] = total, ["failed"] = failed, ["successful"] = total - failed },
        };
        if (state != "IN_PROGRESS") { info["end_time_in_millis"] = s.End; info["duration_in_millis"] = s.End - s.Start; }
        return (200, new JsonObject { ["snapshots"] = new JsonArray(info), ["total"] = 1, ["remaining"] = 0 }.ToJsonString());
    }

    private (int, string) SnapshotStatus(string repo, string name)
    {
        if (!_snapshots.TryGetValue(repo + "/" + name, out var s))
            return (404, Error("snapshot_missing_exception", $"[{repo}:{name}] is missing"));
        var state = s.PollsLeft > 0 ? "STARTED" : s.FinalState;
        var total = s.IndexNames.Count;
        var done = s.PollsLeft > 0 ? total / 2 : total;
        return (200, new JsonObject
        {
            ["snapshots"] = new JsonArray(new JsonObject
            {
                ["snapshot"] = s.Name, ["repository"] = repo, ["uuid"] = s.Uuid, ["state"] = state, ["include_global_state"] = false,
                ["shards_stats"] = new JsonObject { ["initializing"] = 0, ["started"] = total - done, ["finalizing"] = 0, ["done"] = done, ["failed"] = 0, ["total"] = total },
            }),
        }.ToJsonString());
    }

    private string Advance(Snapshot s)
    {
        lock (s)
        {
            if (s.PollsLeft > 0) { s.PollsLeft--; return "IN_PROGRESS"; }
            if (s.End == 0) s.End = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return s.FinalState;
        }
    }

    private (int, string) Restore(string repo, string name, string? body)
    {
        if (!_snapshots.TryGetValue(repo + "/" + name, out var s))
            return (404, Error("snapshot_missing_exception", $"[{repo}:{name}] is missing"));
        var json = JsonNode.Parse(body ?? "{}");
        var patterns = (json?["indices"]?.GetValue<string>() ?? "*").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var chosen = s.IndexNames.Where(i => patterns.Any(p => Glob(p).IsMatch(i))).ToList();
        var pattern = json?["rename_pattern"]?.GetValue<string>();
        var replacement = json?["rename_replacement"]?.GetValue<string>() ?? "";
        var targets = chosen.Select(i => pattern is null ? i : Regex.Replace(i, pattern, replacement)).ToList();
        foreach (var t in targets)
            if (Indices.TryGetValue(t, out var state) && state == "open")
                return (500, Error("snapshot_restore_exception",
                    $"[{repo}:{name}/{s.Uuid}] cannot restore index [{t}] because an open index with same name already exists in the cluster. Either close or delete the existing index or restore the index under a different name by providing a rename pattern and replacement name"));
        foreach (var t in targets) Indices[t] = "open";
        return (200, new JsonObject
        {
            ["snapshot"] = new JsonObject
            {
                ["snapshot"] = name, ["indices"] = new JsonArray(targets.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()),
                ["shards"] = new JsonObject { ["total"] = targets.Count, ["failed"] = 0, ["successful"] = targets.Count },
            },
        }.ToJsonString());
    }

    private (int, string) DeleteSnapshot(string repo, string name)
    {
        if (ConcurrentDeleteRefusals > 0)
        {
            ConcurrentDeleteRefusals--;
            return (503, Error("concurrent_snapshot_execution_exception", $"[{repo}:{name}] cannot delete - another snapshot is currently being deleted in [SnapshotDeletionsInProgress[...]]"));
        }
        return _snapshots.TryRemove(repo + "/" + name, out _)
            ? (200, """{"acknowledged":true}""")
            : (404, Error("snapshot_missing_exception", $"[{repo}:{name}] is missing"));
    }

    private (int, string) Close(string index)
    {
        if (!Indices.ContainsKey(index)) return (404, Error("index_not_found_exception", $"no such index [{index}]"));
        Indices[index] = "close";
        return (200, new JsonObject { ["acknowledged"] = true, ["shards_acknowledged"] = true, ["indices"] = new JsonObject { [index] = new JsonObject { ["closed"] = true } } }.ToJsonString());
    }

    private static Regex Glob(string pattern) => new("^" + Regex.Escape(pattern.Trim()).Replace("\\*", ".*") + "$");

    private static string Error(string type, string reason)
    {
        var status = type switch
        {
            "repository_missing_exception" or "snapshot_missing_exception" or "index_not_found_exception" or "resource_not_found_exception" => 404,
            "security_exception" => 401,
            "concurrent_snapshot_execution_exception" => 503,
            "snapshot_restore_exception" => 500,
            _ => 400,
        };
        var cause = new JsonObject { ["type"] = type, ["reason"] = reason };
        return new JsonObject
        {
            ["error"] = new JsonObject { ["root_cause"] = new JsonArray(cause.DeepClone()), ["type"] = type, ["reason"] = reason },
            ["status"] = status,
        }.ToJsonString(new JsonSerializerOptions());
    }
}
