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
            var oldest = ModelBackup.Versions(root, name).MinBy(v => v.Created);
            list.Add(oldest is null ? new PartWindow(name, null, null, $"model {name} has no version yet") : new PartWindow(name, oldest.Created, now, null));
        }
        if (platform.Config.Count > 0)
        {
            DateTime? first = null;
            string? problem = null;
            try
            {
                using var repo = ConfigHistory.Open(root);
                first = repo.Commits.QueryBy(new CommitFilter { SortBy = CommitSortStrategies.Time }).LastOrDefault()?.Author.When.UtcDateTime;
            }
            catch (ConfigHistoryException e) { problem = e.Message; }
            foreach (var path in platform.Config)
                list.Add(first is { } f ? new PartWindow(path, f, now, null) : new PartWindow(path, null, null, problem ?? "the config history has no commit yet"));
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
