using BackupTools.Model;
using YamlDotNet.RepresentationModel;

namespace BackupTools.Engine.Policy;

public static partial class PolicyParser
{
    private static readonly string[] PlatformKeys = ["targets", "models", "config", "scratch", "rto"];

    /// <summary>An rpo: or rto: duration of a target, a model or the platform (Duration refuses zero: no point is now, no restore instantaneous).</summary>
    private static TimeSpan? Objective(PolicyNode r, YamlMappingNode map, string name, string key) =>
        PolicyNode.Child(map, name) is { } node ? r.DurationValue(node, $"{key}.{name}") : null;

    /// <summary>
    /// platform: { targets: [...], models: [...], config: [...], scratch: /path, rto: 1h }: the parts restored together.
    /// Every name must be a target or model of this policy and every config path must lie under config.paths, because
    /// a part the platform names but nothing backs up would make every platform restore fail at the worst moment.
    /// </summary>
    private static PlatformPolicy? ReadPlatform(PolicyNode r, YamlMappingNode root, IReadOnlyList<TargetPolicy> targets,
        IReadOnlyList<ModelPolicy> models, IReadOnlyList<string> configPaths)
    {
        if (r.Mapping(PolicyNode.Child(root, "platform"), "platform", required: false, root) is not { } map)
        {
            // Without a platform there is no drill: an rto could never be measured.
            foreach (var t in targets.Where(t => t.Rto is not null))
                r.Problem(root, $"targets.{t.Name}.rto", "is measured by the platform drill (Test-Platform); add a platform: section that includes this target, or remove its rto");
            foreach (var m in models.Where(m => m.Rto is not null))
                r.Problem(root, $"models.{m.Name}.rto", "is measured by the platform drill (Test-Platform); add a platform: section that includes this model, or remove its rto");
            return null;
        }
        r.RejectUnknownKeys(map, "platform", PlatformKeys);
        var named = r.TextList(map, "targets", "platform.targets");
        var modelNames = r.TextList(map, "models", "platform.models");
        var config = r.TextList(map, "config", "platform.config");
        Check(named, "targets", n => targets.Any(t => t.Name == n),
            n => $"'{n}' is not a target of this policy; name one of: {string.Join(", ", targets.Select(t => t.Name).DefaultIfEmpty("(none)"))}");
        Check(modelNames, "models", n => models.Any(m => m.Name == n),
            n => $"'{n}' is not a model of this policy; name one of: {string.Join(", ", models.Select(m => m.Name).DefaultIfEmpty("(none)"))}");
        Check(config, "config", p => Path.IsPathFullyQualified(p) && configPaths.Any(c => Covers(c, p)),
            p => !Path.IsPathFullyQualified(p)
                ? $"'{p}' is not an absolute path; write the full path, e.g. /etc/myapp"
                : $"'{p}' is not under any of config.paths ({string.Join(", ", configPaths.DefaultIfEmpty("none"))}), so no backup holds it; add it there first");
        if (named.Count + modelNames.Count + config.Count == 0)
            r.Problem(map, "platform", "names no parts; list the targets, models and config paths restored together, e.g. { targets: [main-db], models: [llm], config: [/etc/llm] }");
        var scratch = r.AbsolutePath(map, "scratch", "platform.scratch", required: false);
        // An rto is measured by the platform's drill: one on a part no drill restores could never be met or missed.
        foreach (var t in targets.Where(t => t.Rto is not null))
            if (!named.Contains(t.Name))
                r.Problem(map, $"targets.{t.Name}.rto", $"is measured by the platform drill (Test-Platform), which does not include {t.Name}; add it to platform.targets, or remove its rto");
            else if (!Engines.EngineRegistry.For(t).CanTestRestore)
                r.Problem(map, $"targets.{t.Name}.rto", $"cannot be measured: a {t.Engine} target restores into its server, not into scratch, so a drill only checks its backup; remove its rto");
        foreach (var m in models.Where(m => m.Rto is not null && !modelNames.Contains(m.Name)))
            r.Problem(map, $"models.{m.Name}.rto", $"is measured by the platform drill (Test-Platform), which does not include {m.Name}; add it to platform.models, or remove its rto");
        var rto = Objective(r, map, "rto", "platform");
        return new PlatformPolicy
        {
            Targets = named.Distinct(StringComparer.Ordinal).ToList(), Models = modelNames.Distinct(StringComparer.Ordinal).ToList(),
            Config = config.Select(c => c.TrimEnd('/')).Distinct(StringComparer.Ordinal).ToList(), Scratch = scratch, Rto = rto,
        };

        void Check(IReadOnlyList<string> values, string name, Func<string, bool> ok, Func<string, string> why)
        {
            var node = PolicyNode.Child(map, name) as YamlSequenceNode;
            for (var i = 0; i < values.Count; i++)
                if (!ok(values[i])) r.Problem(node!.Children[i], "platform." + name, why(values[i]));
        }
    }

    /// <summary>Whether the config path <paramref name="root"/> holds <paramref name="path"/> (itself or anything under it).</summary>
    public static bool Covers(string root, string path)
    {
        root = root.TrimEnd('/');
        path = path.TrimEnd('/');
        return path == root || path.StartsWith(root + "/", StringComparison.Ordinal) || root.Length == 0;
    }
}
