using BackupTools.Engine.Config;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using LibGit2Sharp;

namespace BackupTools.Engine.Platform;

/// <summary>What a platform restore is asked for.</summary>
public sealed record PlatformRequest
{
    public required BackupPolicy Policy { get; init; }
    public required DateTime AsOf { get; init; }
    /// <summary>Where the parts not replaced land (one directory per part); required unless every part is replaced.</summary>
    public string? Destination { get; init; }
    /// <summary>Which parts go into their live place (a target's server or data directory, the model's path, the config file).</summary>
    public Func<PlatformPartKind, string, bool> Replace { get; init; } = (_, _) => false;
    public RestoreValidation Validation { get; init; } = RestoreValidation.RowCount;
    /// <summary>The secret of a target, when its restore needs one (resolved only then).</summary>
    public required Func<TargetPolicy, string?> Secret { get; init; }
    /// <summary>The repository the sets are read from (the policy's, unless a drill or an offsite fetch reads elsewhere).</summary>
    public string? RepositoryRoot { get; init; }
    /// <summary>
    /// A drill (Test-Platform): everything lands in scratch. An Elasticsearch target restores into its cluster, never
    /// into scratch, so a drill only plans it (the snapshot is asked of the cluster) and says so in the part's result.
    /// </summary>
    public bool Drill { get; init; }
}

/// <summary>One part, planned and ready to run: its plan, the questions to ask before it replaces live data, and how to run it.</summary>
public sealed record PlatformPartRunner
{
    public required PlatformPartPlan Plan { get; init; }
    /// <summary>What the part does, one line (for ShouldProcess).</summary>
    public required string What { get; init; }
    public IReadOnlyList<string> Steps { get; init; } = [];
    public string? ReplaceQuestion { get; init; }
    /// <summary>Runs the part; returns whether its own validation passed and its own result.</summary>
    public Func<EngineCallbacks, CancellationToken, Task<(bool Validated, object? Detail)>>? RunAsync { get; init; }
}

/// <summary>
/// Plans a platform restore: every part of <c>platform:</c> at one point in time, each by its own engine's rules
/// (MariaDB to the point itself, Redis and Elasticsearch from their newest snapshot that ended by then, each model at
/// the version deployed then, config files as of the newest commit by then). Nothing is touched; a part that cannot
/// reach the point says why, and the restore then refuses to start.
/// </summary>
public static class PlatformPlanner
{
    public static async Task<IReadOnlyList<PlatformPartRunner>> PrepareAsync(PlatformRequest request, CancellationToken ct)
    {
        var policy = request.Policy;
        var platform = policy.Platform
            ?? throw new ArgumentException($"The policy {policy.Path} has no platform: section; add one naming the parts restored together, e.g. platform: {{ targets: [main-db], models: [llm], config: [/etc/llm] }}.");
        var root = request.RepositoryRoot ?? policy.Repository;
        var asOf = request.AsOf.ToUniversalTime();
        // As root, the parts' directories are made by path under the destination: only where no other account could
        // swap a directory on the way for a symlink (each part's own writes go through handles as well).
        if (request.Destination is { } destination)
        {
            var existing = Path.GetFullPath(destination);
            while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } up) existing = up;
            SafeDirectory.RefuseUnlessOnlyRootWrites(existing, $"to restore the platform into '{destination}'");
        }
        var parts = new List<PlatformPartRunner>();
        var entries = BackupCatalog.List(root);
        foreach (var name in platform.Targets)
        {
            ct.ThrowIfCancellationRequested();
            parts.Add(await TargetPartAsync(request, root, policy.FindTarget(name)!, entries, asOf, ct));
        }
        foreach (var name in platform.Models)
            parts.Add(ModelPart(request, root, policy.Models.First(m => m.Name == name), asOf));
        foreach (var path in platform.Config)
            parts.Add(ConfigPart(request, root, path, asOf));
        return parts;
    }

    private static string PartDestination(PlatformRequest request, params string[] under) =>
        Path.Combine([request.Destination ?? throw new ArgumentException("Give -Destination (a new or empty directory) for the parts restored into new locations, or -Replace for every part."), .. under]);

    private static async Task<PlatformPartRunner> TargetPartAsync(PlatformRequest request, string root, TargetPolicy target,
        IReadOnlyList<CatalogEntry> entries, DateTime asOf, CancellationToken ct)
    {
        var engine = EngineRegistry.For(target);
        var replace = request.Replace(PlatformPartKind.Target, target.Name);
        var plan = new PlatformPartPlan
        {
            Part = target.Name, Kind = PlatformPartKind.Target, Engine = engine.Name, Replace = replace,
            // Two targets on one server (same endpoint) never restore at once; different servers do.
            Group = "server " + target.Endpoint,
        };
        try
        {
            // An engine whose restores cannot be tried in scratch (Elasticsearch) restores into its own cluster.
            var restoresInCluster = !engine.CanTestRestore;
            var stamp = Stamps.Compact(asOf).ToLowerInvariant();
            var options = new RestoreOptions
            {
                RepositoryRoot = root, StateRepositoryRoot = request.Policy.Repository, Target = target, PointInTime = asOf, PolicyPath = request.Policy.Path,
                Replace = replace, Validation = request.Validation,
                // Replacing a data directory (MariaDB) swaps a restored one in by rename: it is built beside the live one, on
                // the same file system. A server restored in place (Redis) or a cluster (Elasticsearch) takes no destination.
                Destination = restoresInCluster ? null
                    : !replace ? PartDestination(request, target.Name)
                    : engine.CanPlan && target.DataDir is { } dataDir ? $"{dataDir.TrimEnd('/')}.platform-{stamp}" : null,
                // Elasticsearch restores into its cluster: beside the live indices under new names, unless replaced.
                RenamePattern = restoresInCluster && !replace ? "(.+)" : null,
                RenameReplacement = restoresInCluster && !replace ? $"restored-{stamp}-$1" : null,
            };
            engine.CheckRestoreOptions(options);
            var secret = engine.NeedsSecretToPlan(options) ? request.Secret(target) : null;
            var prepared = await engine.PrepareRestoreAsync(options, secret, ct);
            DateTime landsAt;
            string reads;
            long bytes;
            if (engine.CanPlan && await engine.PlanAsync(options, verifyChecksums: false, null, ct) is { } p)
                (landsAt, reads, bytes) = (p.PointInTime, p.Summary, p.BytesToRead);
            else
            {
                var mine = entries.Where(e => e.Manifest.Engine == engine.Name && e.Manifest.Target == target.Name).ToList();
                var ids = engine.SetsNeeded(root, target.Name, mine, asOf);
                var set = mine.Where(e => ids?.Contains(e.Manifest.Id) ?? false).MaxBy(e => e.Manifest.EndTime)
                    ?? throw new InvalidOperationException($"Target '{target.Name}' has no backup that ended at or before {asOf:u}. Run: Start-DbBackup -Target {target.Name}");
                (landsAt, reads, bytes) = (set.Manifest.EndTime, $"{set.Manifest.Type} {set.Manifest.Id} (ended {set.Manifest.EndTime:u})", set.Manifest.StoredBytes);
            }
            if (request.Drill && restoresInCluster)
                return new PlatformPartRunner
                {
                    Plan = plan with
                    {
                        LandsAt = landsAt, Offset = landsAt - asOf, Reads = reads, Bytes = bytes, Destination = prepared.Where,
                        Warnings = [.. prepared.Warnings, "A drill does not restore Elasticsearch: it restores into its cluster, never into scratch; the snapshot was found in the cluster's repository. Test it with Restore-DbToPointInTime -RenamePattern."],
                    },
                    What = $"Check that the cluster still holds the snapshot ({reads})", Steps = ["check the snapshot in the cluster"],
                    RunAsync = (_, _) => Task.FromResult<(bool, object?)>((false, $"planned only: {prepared.What}")),
                };
            return new PlatformPartRunner
            {
                Plan = plan with
                {
                    LandsAt = landsAt, Offset = landsAt - asOf, Reads = reads, Bytes = bytes, Warnings = prepared.Warnings,
                    Destination = restoresInCluster && !replace ? $"{prepared.Where} (indices renamed restored-{stamp}-<index>)" : options.Destination ?? prepared.Where,
                },
                What = prepared.What, Steps = prepared.Steps,
                ReplaceQuestion = prepared.ReplaceQuestion ?? (prepared.ReplaceConfirmation is { } c ? $"{c.What} ({c.Where})?" : null),
                RunAsync = async (callbacks, token) =>
                {
                    var result = await prepared.RunAsync(prepared.NeedsSecret ? secret ?? request.Secret(target) : secret, callbacks, token);
                    return (result.Validated, result);
                },
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PlatformPartRunner { Plan = plan with { Problem = e.Message }, What = $"Restore target {target.Name}" };
        }
    }

    private static PlatformPartRunner ModelPart(PlatformRequest request, string root, ModelPolicy model, DateTime asOf)
    {
        var replace = request.Replace(PlatformPartKind.Model, model.Name);
        var plan = new PlatformPartPlan
        {
            Part = model.Name, Kind = PlatformPartKind.Model, Engine = ModelBackup.Engine, Replace = replace, Group = "model " + model.Name,
        };
        try
        {
            var warnings = new List<string>();
            var found = ModelDeployments.DeployedAt(root, model.Name, asOf, warnings.Add);
            if (found.Manifest is not { } manifest) return new PlatformPartRunner { Plan = plan with { Problem = found.Problem, Warnings = warnings }, What = $"Restore model {model.Name}" };
            var destination = replace ? model.Path : PartDestination(request, "models", model.Name);
            // A recorded deployment names the version that ran at the point itself; without one, the newest version by then.
            var recorded = found.How != ModelDeployments.Fallback;
            var landsAt = recorded ? asOf : found.Since!.Value;
            return new PlatformPartRunner
            {
                Plan = plan with
                {
                    LandsAt = landsAt, Offset = landsAt - asOf, Destination = destination, Bytes = manifest.RawBytes, Warnings = warnings,
                    Reads = $"version {manifest.Version}, {found.How} from {found.Since:u} ({manifest.Files.Count} files, {manifest.RawBytes:N0} bytes)",
                },
                What = $"Restore model {model.Name} version {manifest.Version} ({manifest.Files.Count} files) into {destination}",
                Steps = ["verify blobs", "materialise", "check the restored files", "swap into place"],
                ReplaceQuestion = replace ? $"Replace the model at {model.Path} with version {manifest.Version}? The current directory comes back if the new one fails its checks." : null,
                RunAsync = async (callbacks, token) =>
                {
                    if (!replace) FileModes.CreatePrivateDirectory(Path.GetDirectoryName(destination)!);
                    var result = await ModelRestore.RunAsync(root, manifest, destination, null, callbacks.Log, token, model.KeepSpecialBits);
                    // The live model is replaced now: a history that cannot record it is a warning, never a failed part.
                    if (replace)
                        try { ModelDeployments.Record(request.Policy.Repository, model.Name, manifest.Version, DateTime.UtcNow, "restore", manifest.ManifestHash); }
                        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                        {
                            callbacks.Warn?.Invoke($"version {manifest.Version} is in place, but the deployment history could not record it ({e.Message}); a platform restore to a later time may pick another version.");
                        }
                    return (true, new ModelRestoreResult
                    {
                        Name = model.Name, Version = manifest.Version, Destination = result.Destination, Validated = result.Validated, Steps = result.Steps,
                    });
                },
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PlatformPartRunner { Plan = plan with { Problem = e.Message }, What = $"Restore model {model.Name}" };
        }
    }

    private static PlatformPartRunner ConfigPart(PlatformRequest request, string root, string path, DateTime asOf)
    {
        var replace = request.Replace(PlatformPartKind.Config, path);
        // One group for every config path: they share the history repository, and each is a few small files.
        var plan = new PlatformPartPlan { Part = path, Kind = PlatformPartKind.Config, Engine = "config", Replace = replace, Group = "config" };
        try
        {
            List<ConfigRestorePlan> files;
            Commit commit;
            using (var repo = ConfigHistory.Open(root))
            {
                commit = ConfigHistory.Resolve(repo, null, asOf);
                var relative = ConfigPaths.ToRepositoryPath(Path.GetFullPath(path));
                var blobs = commit[relative]?.Target switch
                {
                    Blob => [relative],
                    Tree tree => BlobsUnder(tree, relative).ToList(),
                    _ => new List<string>(),
                };
                if (blobs.Count == 0)
                    return new PlatformPartRunner
                    {
                        Plan = plan with { Problem = $"'{path}' is not in the config history at {commit.Sha[..12]} ({commit.Author.When.UtcDateTime:u}), the newest commit by {asOf:u}. See Get-ConfigFileHistory -Path {path}." },
                        What = $"Restore config {path}",
                    };
                files = blobs.Select(b =>
                {
                    var live = ConfigPaths.FromRepositoryPath(b);
                    var destination = replace ? null : PartDestination(request, ["config", .. ConfigPaths.ToRepositoryPath(live).Split('/')]);
                    return ConfigRestore.Plan(root, live, commit.Sha, null, destination);
                }).ToList();
            }
            var landsAt = commit.Author.When.UtcDateTime;
            return new PlatformPartRunner
            {
                Plan = plan with
                {
                    LandsAt = landsAt, Offset = landsAt - asOf, Reads = $"commit {commit.Sha[..12]} ({landsAt:u}), {files.Count} file(s)",
                    Bytes = files.Sum(f => (long)f.Content.Length),
                    Destination = replace ? path : PartDestination(request, ["config", .. ConfigPaths.ToRepositoryPath(Path.GetFullPath(path)).Split('/')]),
                    Warnings = replace ? [$"Files under {path} added after {landsAt:u} are left as they are; only files the commit holds are written."] : [],
                },
                What = $"Restore {files.Count} config file(s) under {path} as of commit {commit.Sha[..12]}",
                Steps = files.Select(f => $"Write {f.Destination}").ToList(),
                ReplaceQuestion = replace ? $"Overwrite {files.Count} config file(s) under {path} with their content as of {landsAt:u}? Each current file is kept as <file>.before-restore-<time>." : null,
                RunAsync = async (callbacks, token) =>
                {
                    var results = new List<ConfigRestoreResult>();
                    foreach (var f in files) results.Add(await ConfigRestore.RunAsync(f, callbacks.Log, token));
                    return (true, results);
                },
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new PlatformPartRunner { Plan = plan with { Problem = e.Message }, What = $"Restore config {path}" };
        }
    }

    private static IEnumerable<string> BlobsUnder(Tree tree, string prefix)
    {
        foreach (var entry in tree)
        {
            var path = prefix + "/" + entry.Name;
            if (entry.Target is Blob) yield return path;
            else if (entry.Target is Tree sub) foreach (var p in BlobsUnder(sub, path)) yield return p;
        }
    }
}
