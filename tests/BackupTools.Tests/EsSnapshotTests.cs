using System.Text;
using System.Text.Json.Nodes;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Retention;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// Elasticsearch snapshots against the loopback fake that answers the documented snapshot REST shapes: what the module
/// sends, and how it treats a missing repository, a snapshot in progress, PARTIAL/FAILED, restore conflicts, auth
/// failures and concurrent-delete refusals.
/// </summary>
public sealed class EsSnapshotTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeElasticsearch _es = FakeElasticsearch.Start();

    public EsSnapshotTests()
    {
        EsSnapshotBackup.PollInterval = TimeSpan.FromMilliseconds(20);
        EsSnapshotDelete.RetryDelays = [TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10)];
        foreach (var i in new[] { "logs-2026.11.25", "logs-2026.11.26", "users", "other" }) _es.Indices[i] = "open";
    }

    public void Dispose()
    {
        _es.Dispose();
        _dir.Dispose();
    }

    private string Repo => _dir.Combine("repo");

    private TargetPolicy Target(IReadOnlyDictionary<string, string>? settings = null, string? user = null) => new()
    {
        Name = "search", Engine = TargetEngine.Elasticsearch, Url = _es.Url, SnapshotRepository = "backups", Indices = ["logs-*", "users"], User = user,
        SnapshotRepositorySettings = settings ?? new Dictionary<string, string>(),
    };

    private static readonly Dictionary<string, string> FsSettings = new() { ["type"] = "fs", ["location"] = "/mnt/es-backups" };

    private Task<BackupAttempt> BackupAsync(TargetPolicy target, string? password = null, IProgress<TransferProgress>? progress = null) =>
        EsSnapshotBackup.RunAsync(new BackupRequest { RepositoryRoot = Repo, Target = target, Password = password, Progress = progress }, CancellationToken.None);

    [Fact]
    public async Task ASnapshotOfNothingIsAFailureUnlessTheTargetAllowsEmpty()
    {
        var target = Target(FsSettings) with { Indices = ["nothing-matches-*"] };
        var attempt = await BackupAsync(target);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.Contains("matched nothing", Assert.IsType<EmptyBackupException>(attempt.Error).Message);
        Assert.Contains("allowEmpty", attempt.Record.Error);
        Assert.Empty(BackupCatalog.List(Repo, "elasticsearch"));
        Assert.Contains(_es.Received, r => r.Method == "DELETE"); // the empty snapshot is not left behind in the cluster
        Assert.Null((await BackupAsync(target with { AllowEmpty = true })).Error);
    }

    [Fact]
    public async Task AMissingRepositoryWithoutSettingsIsAFailedRecordThatSaysHowToRegisterIt()
    {
        var attempt = await BackupAsync(Target());
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        var e = Assert.IsType<EsRepositoryMissingException>(attempt.Error);
        Assert.Contains("no snapshot repository 'backups'", e.Message);
        Assert.Contains("snapshotRepositorySettings", e.Message);
        Assert.Empty(BackupCatalog.List(Repo, "elasticsearch"));
        Assert.DoesNotContain(_es.Received, r => r.Method == "PUT");
    }

    [Fact]
    public async Task RegistersTheRepositoryTakesTheSnapshotWaitsWithProgressAndRecordsIt()
    {
        _es.PollsInProgress = 3;
        var reports = new List<TransferProgress>();
        var attempt = await BackupAsync(Target(FsSettings), progress: new SyncProgress(reports.Add));
        Assert.Null(attempt.Error);

        var sent = _es.Received.ToList();
        var register = sent.Single(r => r.Method == "PUT" && r.Path == "/_snapshot/backups");
        Assert.Equal("fs", JsonNode.Parse(register.Body!)!["type"]!.GetValue<string>());
        Assert.Equal("/mnt/es-backups", JsonNode.Parse(register.Body!)!["settings"]!["location"]!.GetValue<string>());
        var create = sent.Single(r => r.Method == "PUT" && r.Path.StartsWith("/_snapshot/backups/search-", StringComparison.Ordinal));
        Assert.Contains("wait_for_completion=false", create.Path);
        var body = JsonNode.Parse(create.Body!)!;
        Assert.Equal("logs-*,users", body["indices"]!.GetValue<string>());
        Assert.False(body["include_global_state"]!.GetValue<bool>());
        Assert.True(sent.IndexOf(register) < sent.IndexOf(create));
        Assert.True(sent.Count(r => r.Method == "GET" && r.Path.StartsWith("/_snapshot/backups/search-", StringComparison.Ordinal) && !r.Path.EndsWith("_status")) >= 4);
        Assert.Contains(reports, p => p.Phase == "Shards" && p.TotalBytes == 3 && p.Bytes < 3);

        var entry = BackupCatalog.List(Repo, "elasticsearch", "search").Single();
        var f = entry.Manifest.EngineFields;
        Assert.Equal(("backups", "SUCCESS", "3", "0"), (f["repository"], f["state"], f["shardsTotal"], f["shardsFailed"]));
        Assert.Equal("logs-2026.11.25,logs-2026.11.26,users", f["indices"]);
        Assert.Matches("^search-[0-9]{8}t[0-9]{6}z-[0-9a-f]{8}$", f["snapshot"]);
        Assert.Equal(FakeElasticsearch.Version, entry.Manifest.ServerVersion);
        Assert.True(File.Exists(Path.Combine(entry.Path, "snapshot.json")));
        Assert.Equal([f["snapshot"]], _es.SnapshotNames("backups"));
    }

    [Theory]
    [InlineData("PARTIAL")]
    [InlineData("FAILED")]
    public async Task APartialOrFailedSnapshotIsAFailedRecordWithTheShardFailures(string state)
    {
        _es.NextSnapshotState = state;
        var attempt = await BackupAsync(Target(FsSettings));
        var e = Assert.IsType<EsSnapshotFailedException>(attempt.Error);
        Assert.Contains($"ended {state}", e.Message);
        Assert.Contains("logs-2026.11.25[0]: IndexShardSnapshotFailedException[shard is closed]", e.Message);
        Assert.Equal(BackupOutcome.Failed, attempt.Record.Status);
        Assert.Empty(BackupCatalog.List(Repo, "elasticsearch"));
    }

    [Fact]
    public async Task AnApiKeyAndBasicAuthAreSentAndARefusalSaysWhatToCheck()
    {
        _es.Repositories["backups"] = new JsonObject { ["type"] = "fs" };
        _es.RequiredAuthorization = "ApiKey right-key";
        Assert.Null((await BackupAsync(Target(), "right-key")).Error);
        var refused = await BackupAsync(Target(), "wrong-key");
        var e = Assert.IsType<EsAuthException>(refused.Error);
        Assert.Contains("HTTP 401", e.Message);
        Assert.Contains("API key", e.Message);
        Assert.DoesNotContain("wrong-key", e.Message);

        _es.RequiredAuthorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("backup:s3cret"));
        Assert.Null((await BackupAsync(Target(user: "backup"), "s3cret")).Error);
    }

    private async Task<CatalogEntry> SnapshotAsync()
    {
        Assert.Null((await BackupAsync(Target(FsSettings))).Error);
        return BackupCatalog.List(Repo, "elasticsearch", "search").Single();
    }

    private EsRestoreRequest RestoreRequest(IReadOnlyList<string>? index = null, string? pattern = null, string? replacement = null, bool replace = false) => new()
    {
        RepositoryRoot = Repo, Target = Target(), PointInTime = DateTime.UtcNow.AddSeconds(1), Index = index ?? [],
        RenamePattern = pattern, RenameReplacement = replacement, Replace = replace,
    };

    [Fact]
    public async Task AnOpenIndexOfTheSameNameBlocksTheRestoreBeforeAnythingIsSent()
    {
        await SnapshotAsync();
        var e = await Assert.ThrowsAsync<EsRestoreConflictException>(() => EsSnapshotRestore.RunAsync(RestoreRequest(), CancellationToken.None));
        Assert.Contains("logs-2026.11.25, logs-2026.11.26, users", e.Message);
        Assert.Contains("-RenamePattern", e.Message);
        Assert.DoesNotContain(_es.Received, r => r.Path.Contains("_restore") || r.Path.EndsWith("_close"));
    }

    [Fact]
    public async Task ARenameRestoresASubsetBesideTheLiveIndices()
    {
        var snapshot = await SnapshotAsync();
        var result = await EsSnapshotRestore.RunAsync(RestoreRequest(["logs-*"], "(.+)", "restored-$1"), CancellationToken.None);
        var restore = _es.Received.Single(r => r.Path.Contains("/_restore"));
        Assert.Contains($"/_snapshot/backups/{snapshot.Manifest.EngineFields["snapshot"]}/_restore?wait_for_completion=true", restore.Path);
        var body = JsonNode.Parse(restore.Body!)!;
        Assert.Equal("logs-2026.11.25,logs-2026.11.26", body["indices"]!.GetValue<string>());
        Assert.Equal(("(.+)", "restored-$1"), (body["rename_pattern"]!.GetValue<string>(), body["rename_replacement"]!.GetValue<string>()));
        Assert.Equal("open", _es.Indices["restored-logs-2026.11.25"]);
        Assert.Equal("open", _es.Indices["logs-2026.11.25"]);
        Assert.True(result.Validated);
        Assert.Contains("snapshot precision", result.Plan);
        Assert.Equal(snapshot.Manifest.EndTime, result.RestoredTo);
    }

    [Fact]
    public async Task ReplaceClosesTheOpenIndicesThenRestoresOverThem()
    {
        await SnapshotAsync();
        var result = await EsSnapshotRestore.RunAsync(RestoreRequest(["users"], replace: true), CancellationToken.None);
        var sent = _es.Received.ToList();
        var close = sent.FindIndex(r => r.Method == "POST" && r.Path == "/users/_close");
        var restore = sent.FindIndex(r => r.Path.Contains("/_restore"));
        Assert.True(close >= 0 && close < restore);
        Assert.DoesNotContain(sent, r => r.Path.StartsWith("/logs-", StringComparison.Ordinal));
        Assert.Equal("open", _es.Indices["users"]);
        Assert.Contains("indices users", result.Destination);
    }

    [Fact]
    public async Task RetentionDeletesSnapshotsOneAtATimeRetryingConcurrentOperations()
    {
        var first = await SnapshotAsync();
        await SnapshotAsync2();
        Assert.Equal(2, _es.SnapshotNames("backups").Count);
        _es.ConcurrentDeleteRefusals = 2;
        var target = Target() with { Retention = new Dictionary<string, TimeSpan> { ["snapshot"] = TimeSpan.FromDays(1) } };
        var outcome = await RetentionRunner.RunAsync(Repo, target, DateTime.UtcNow.AddDays(10), null, _ => Task.FromResult(true), null, CancellationToken.None,
            (entry, ct) => EsSnapshotDelete.DeleteAsync(target, null, entry, null, ct));
        var removed = Assert.Single(outcome.Removed);
        Assert.Equal(first.Manifest.Id, removed.Id);
        Assert.Equal(3, _es.Received.Count(r => r.Method == "DELETE"));
        var kept = Assert.Single(BackupCatalog.List(Repo, "elasticsearch", "search"));
        Assert.Equal([kept.Manifest.EngineFields["snapshot"]], _es.SnapshotNames("backups"));
        Assert.Contains("newest snapshot", outcome.Kept.Single().Reason);
    }

    private async Task SnapshotAsync2() => Assert.Null((await BackupAsync(Target(FsSettings))).Error);

    [Fact]
    public async Task WhenTheClusterRefusesTheDeleteTheSetStaysListed()
    {
        await SnapshotAsync();
        await SnapshotAsync2();
        _es.ConcurrentDeleteRefusals = 10; // more than the retries
        var target = Target() with { Retention = new Dictionary<string, TimeSpan> { ["snapshot"] = TimeSpan.FromDays(1) } };
        await Assert.ThrowsAsync<EsRequestException>(() => RetentionRunner.RunAsync(Repo, target, DateTime.UtcNow.AddDays(10), null, _ => Task.FromResult(true), null,
            CancellationToken.None, (entry, ct) => EsSnapshotDelete.DeleteAsync(target, null, entry, null, ct)));
        Assert.Equal(2, BackupCatalog.List(Repo, "elasticsearch", "search").Count);
        Assert.Equal(2, _es.SnapshotNames("backups").Count);
    }

    private sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
