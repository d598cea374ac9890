using BackupTools.Engine.Config;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Models;
using BackupTools.Engine.Repository;
using BackupTools.Model;
using LibGit2Sharp;

namespace BackupTools.Engine.Platform;

/// <summary>
/// The stretch of time every part of the platform can be restored to: each part's own window (MariaDB: the
/// point-in-time window; a snapshot engine, a model or config: from its oldest snapshot, version or commit on, since any
/// later point lands on the newest one), and their intersection. A drill picks its point inside it.
/// </summary>
public static class PlatformWindow
{
    public sealed record PartWindow(string Part, DateTime? From, DateTime? To, string? Problem);

    public static IReadOnlyList<PartWindow> Parts(BackupPolicy policy, DateTime now, string? repositoryRoot = null)
    {
        var platform = policy.Platform ?? throw new ArgumentException($"The policy {policy.Path} has no platform: section.");
        var root = repositoryRoot ?? policy.Repository;
        var entries = BackupCatalog.List(root);
        var list = new List<PartWindow>();
        foreach (var name in platform.Targets)
        {
            var target = policy.FindTarget(name)!;
            var engine = EngineRegistry.For(target);
            if (engine.CanPlan)
            {
                var w = engine.RecoverableWindow(root, name, null);
                list.Add(w is { } window ? new PartWindow(name, window.From, window.To, null)
                    : new PartWindow(name, null, null, $"target {name} has no point-in-time window yet (a full backup and binary logs after it)"));
                continue;
            }
            var oldest = entries.Where(e => e.Manifest.Engine == engine.Name && e.Manifest.Target == name).MinBy(e => e.Manifest.EndTime);
            list.Add(oldest is null ? new PartWindow(name, null, null, $"target {name} has no backup yet")
                : new PartWindow(name, oldest.Manifest.EndTime, now, null));
        }
        foreach (var name in platform.Models)
        {
            // From the first point whose deployed version is still held: never a point that would find it removed.
            var from = ModelDeployments.WindowStart(root, name);
            list.Add(from is { } f ? new PartWindow(name, f, now, null)
                : new PartWindow(name, null, null, ModelBackup.Versions(root, name).Count == 0
                    ? $"model {name} has no version yet" : $"the version of model {name} deployed last is no longer held (retention removed it)"));
        }
        if (platform.Config.Count > 0)
        {
            try
            {
                using var repo = ConfigHistory.Open(root);
                // Oldest first: each path from the first commit that holds it.
                var commits = repo.Commits.QueryBy(new CommitFilter { SortBy = CommitSortStrategies.Time | CommitSortStrategies.Reverse }).ToList();
                foreach (var path in platform.Config)
                {
                    var relative = ConfigPaths.ToRepositoryPath(Path.GetFullPath(path));
                    var first = commits.FirstOrDefault(c => c[relative] is not null);
                    list.Add(first is not null ? new PartWindow(path, first.Author.When.UtcDateTime, now, null)
                        : new PartWindow(path, null, null, $"'{path}' is in no commit of the config history yet"));
                }
            }
            catch (ConfigHistoryException e)
            {
                list.AddRange(platform.Config.Select(path => new PartWindow(path, null, null, e.Message)));
            }
        }
        return list;
    }

    /// <summary>The common window, or why there is none.</summary>
    public static (DateTime From, DateTime To)? Common(IReadOnlyList<PartWindow> parts, out string? problem)
    {
        if (parts.FirstOrDefault(p => p.Problem is not null) is { } bad)
        {
            problem = bad.Problem;
            return null;
        }
        var from = parts.Max(p => p.From!.Value);
        var to = parts.Min(p => p.To!.Value);
        if (from > to)
        {
            var latestStart = parts.MaxBy(p => p.From!.Value)!;
            var earliestEnd = parts.MinBy(p => p.To!.Value)!;
            problem = $"the parts have no point in common: {latestStart.Part} begins at {from:u}, after {earliestEnd.Part} ends at {to:u}";
            return null;
        }
        problem = null;
        return (from, to);
    }
}
