using System.Text.RegularExpressions;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>
/// One home per engine: every engine answers every member, a new engine is one class and one registration, and the
/// cmdlets ask the registry instead of naming engines.
/// </summary>
[Collection(ServerCollection.Name)] // registers a fake engine in the process-wide registry: not alongside other tests
public sealed class EngineRegistryTests
{
    [Fact]
    public void EveryEngineAnswersEveryMember()
    {
        var record = new BackupRecord { Id = "x", Engine = "e", Target = "t", Type = "full", Status = BackupOutcome.Succeeded, StartTime = DateTime.UtcNow };
        var manifest = new BackupManifest { Id = "x", Engine = "e", Target = "t", Type = "full", StartTime = DateTime.UtcNow, EndTime = DateTime.UtcNow };
        Assert.Equal(["mariadb", "redis", "elasticsearch", "models"], EngineRegistry.All.Select(e => e.Name));
        foreach (var engine in EngineRegistry.All)
        {
            Assert.NotEmpty(engine.Types);
            foreach (var type in engine.Types) _ = engine.LockScope(type);
            Assert.NotNull(engine.Describe(record, manifest));
            if (engine is not ITargetEngine t) continue;
            Assert.Same(t, EngineRegistry.For(t.Kind));
            var target = new TargetPolicy { Name = "t", Engine = t.Kind };
            Assert.Null(t.WhyNot(target, t.Types[0], new BackupOptions()));
            Assert.NotNull(t.WhyNot(target, BackupType.Model, new BackupOptions()));
            Assert.NotEmpty(t.RestoreSteps(replace: false));
            _ = t.RemovesFromServer;
            _ = t.NeedsSecretToPlan(new RestoreOptions { RepositoryRoot = "/nonexistent", Target = target, PointInTime = DateTime.UtcNow });
            Assert.False(t.CanPrepare(manifest with { Type = "snapshot" }));
            using var empty = new TempDirectory();
            Assert.Empty(t.RetentionItems(empty.Path, "t", []));
            Assert.Null(t.RecoverableWindow(empty.Path, "t", null));
            Assert.Empty(t.Status(empty.Path, target, []).Problems);
            // A target with no keys at all: every engine says how it is reached.
            var problems = new List<string>();
            t.ValidatePolicy(new TargetKeys(new HashSet<string>(), null, null, null, null, null), (k, m) => problems.Add($"{k}: {m}"));
            Assert.NotEmpty(problems);
            _ = t.CanTestRestore;
            Assert.True(t.RestoreSteps(replace: true).Count >= t.RestoreSteps(replace: false).Count);
        }
        // Every target kind the policy knows has an engine.
        foreach (var kind in Enum.GetValues<TargetEngine>()) Assert.Equal(kind, EngineRegistry.For(kind).Kind);
        // The lock scopes are the engines' own: only MariaDB's binlog archiving runs beside the main lock.
        Assert.Equal("binlog", BackupRun.LockScopeOf("mariadb", "binlog"));
        Assert.Null(BackupRun.LockScopeOf("redis", "snapshot"));
    }

    private sealed class FakeEngine : ITargetEngine
    {
        public List<BackupType> Taken { get; } = [];
        public string Name => "fake";
        public TargetEngine Kind => (TargetEngine)99;
        public IReadOnlyList<BackupType> Types { get; } = [BackupType.Snapshot];
        public string? LockScope(BackupType type) => null;
        public BackupRecord Describe(BackupRecord record, BackupManifest manifest) => record with { Warning = "fake" };
        public string? WhyNot(TargetPolicy target, BackupType type, BackupOptions options) => null;
        public Task<IReadOnlyList<BackupAttempt>> BackupAsync(BackupRequest request, BackupType type, BackupOptions options, CancellationToken ct)
        {
            Taken.Add(type);
            return Task.FromResult<IReadOnlyList<BackupAttempt>>([]);
        }
        public Task<string> ServerVersionAsync(TargetPolicy target, string? secret, TimeSpan timeout, CancellationToken ct) => Task.FromResult("fake 1.0");
        public IReadOnlyList<string> RestoreSteps(bool replace) => ["restore"];
        public bool RemovesFromServer => false;
        public Func<CatalogEntry, CancellationToken, Task>? ServerRemoval(TargetPolicy target, string? secret, Action<string>? log) => null;
        public string RetentionSummary(BackupTools.Engine.Retention.RetentionOutcome outcome) => "fake";
        public bool CanPrepare(BackupManifest manifest) => false;
        public Task PrepareAsync(string repositoryRoot, CatalogEntry entry, TargetPolicy? target, EngineCallbacks callbacks, CancellationToken ct) => Task.CompletedTask;
        public Task<RestoreResult?> TestRestoreAsync(string repositoryRoot, string target, TargetPolicy? policyTarget, DateTime? pointInTime, EngineCallbacks callbacks, CancellationToken ct) =>
            Task.FromResult<RestoreResult?>(null);
        public bool NeedsSecretToPlan(RestoreOptions options) => false;
        public void CheckRestoreOptions(RestoreOptions options) { }
        public Task<PreparedRestore> PrepareRestoreAsync(RestoreOptions options, string? secret, CancellationToken ct) => Task.FromResult(new PreparedRestore
        {
            What = "restore fake", Where = "nowhere", Steps = ["Step 1: restore"],
            RunAsync = (_, _, _) => Task.FromResult(new RestoreResult { Target = options.Target.Name, PointInTime = options.PointInTime, Plan = "fake", Destination = "nowhere" }),
        });
        public Task<RestorePlan?> PlanAsync(RestoreOptions options, bool verifyChecksums, IProgress<TransferProgress>? progress, CancellationToken ct) =>
            Task.FromResult<RestorePlan?>(null);
        public void ValidatePolicy(TargetKeys keys, Action<string?, string> problem) { }
        public bool CanTestRestore => false;
        public Task ReadinessAsync(TargetPolicy target, string? secret, string repositoryRoot, TimeSpan timeout,
            Action<string, ReadinessLevel, string, string?> add, CancellationToken ct) => Task.CompletedTask;
        public IReadOnlyList<BackupTools.Engine.Retention.RetentionItem> RetentionItems(string repositoryRoot, string target, IReadOnlyList<CatalogEntry> entries) => [];
        public (DateTime From, DateTime To)? RecoverableWindow(string repositoryRoot, string target, IReadOnlySet<string>? without) => null;
        public EngineStatus Status(string repositoryRoot, TargetPolicy target, IReadOnlyList<CatalogEntry> entries) => EngineStatus.None;
    }

    [Fact]
    public async Task AFakeEngineIsOneClassAndOneRegistration()
    {
        var fake = new FakeEngine();
        EngineRegistry.Register(fake);
        try
        {
            var target = new TargetPolicy { Name = "f", Engine = fake.Kind };
            Assert.Same(fake, EngineRegistry.For(target));
            Assert.Same(fake, EngineRegistry.ForName("fake"));
            var check = await BackupTools.Engine.Targets.TargetProbe.CheckAsync(target, null, TimeSpan.FromSeconds(5), CancellationToken.None);
            Assert.Equal("fake 1.0", check.ServerVersion);
            await EngineRegistry.For(target).BackupAsync(new BackupRequest { RepositoryRoot = "/nonexistent", Target = target }, BackupType.Snapshot, new BackupOptions(), CancellationToken.None);
            Assert.Equal([BackupType.Snapshot], fake.Taken);
        }
        finally { EngineRegistry.Reset(); }
        Assert.Null(EngineRegistry.ForName("fake"));
    }

    /// <summary>Cmdlet files name no engine in code (comments and help text may): they ask the registry.</summary>
    [Fact]
    public void CmdletFilesNameNoEngine()
    {
        string[] stillSwitching = [];
        var commands = Path.Combine(RepositoryRoot(), "src", "BackupTools", "Commands");
        var engine = new Regex(@"using BackupTools\.Engine\.(MariaDb|Redis|Elasticsearch)\b|TargetEngine\.(MariaDb|Redis|Elasticsearch)\b|""(mariadb|redis|elasticsearch)""|\b(MariaDb|Redis|EsSnapshot|Binlog)\w*\.");
        var naming = Directory.EnumerateFiles(commands, "*.cs")
            .Where(f => File.ReadLines(f).Any(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal) && engine.IsMatch(line)))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(stillSwitching, naming);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "build.ps1"))) return dir.FullName;
        throw new InvalidOperationException("No repository above " + AppContext.BaseDirectory);
    }
}
