using System.Text.RegularExpressions;
using BackupTools.Model;
using Cronos;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BackupTools.Engine.Policy;

/// <summary>
/// Parses and validates the policy file in one pass. Every problem carries file, line, column, the dotted key and
/// the expected form; unknown keys are problems too, because a misspelt key silently ignored is a backup not taken.
/// </summary>
public static partial class PolicyParser
{
    private static readonly string[] RootKeys = ["repository", "targets", "models", "config", "storage", "alerts", "metrics", "offsite", "encryption", "platform"];
    private static readonly string[] TargetKeys =
        ["engine", "host", "port", "socket", "user", "passwordEnv", "passwordFile", "dataDir", "configFile", "url",
         "snapshotRepository", "indices", "schedule", "retention", "startCommand", "snapshotRepositorySettings", "allowEmpty", "toolsDir", "stream", "rpo", "rto"];
    private static readonly Dictionary<string, string> SecretKeys = new()
    {
        ["password"] = "secrets never live in the policy; use passwordEnv: <VARIABLE> or passwordFile: <path to a 0600 file>",
    };
    private static readonly string[] ModelKeys = ["path", "keep", "keepSpecialBits", "rpo", "rto"];
    private static readonly string[] ConfigKeys = ["paths", "exclude", "remote"];
    private static readonly string[] StorageKeys =
        ["warningFreePercent", "criticalFreePercent", "compression", "compressionLevel", "compressionThreads"];
    private static readonly string[] AlertKeys = ["delayGrace", "repeatEvery", "routes", "channels", "heartbeat"];
    private static readonly string[] RouteKeys = ["critical", "warning"];
    /// <summary>Alert channels a route may name; their settings arrive with the alerting work.</summary>
    public static readonly string[] ChannelNames = ["phone", "sms", "slack", "email", "webhook"];

    /// <summary>Backup types each engine knows; schedule and retention keys must be one of these.</summary>
    public static IReadOnlyList<string> BackupTypes(TargetEngine engine) =>
        Engines.EngineRegistry.For(engine).Types.Select(Engines.BackupTypes.Name).ToList();

    // \z, not $: "$" also matches before a trailing newline, and a name ending in one breaks the generated cron file.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\z")]
    private static partial Regex NamePattern();

    /// <summary>Reads and validates the file; throws <see cref="PolicyException"/> listing every problem.</summary>
    public static BackupPolicy Load(string? explicitPath)
    {
        var (path, chosenBy) = PolicyLocator.Resolve(explicitPath);
        if (!File.Exists(path)) throw new PolicyNotFoundException(path, chosenBy);
        var (policy, problems) = Parse(File.ReadAllText(path), path);
        if (problems.Count > 0) throw new PolicyException(path, problems);
        return policy!;
    }

    /// <summary>Validates without throwing; the policy is null when there is any problem.</summary>
    public static (BackupPolicy? Policy, IReadOnlyList<PolicyProblem> Problems) Parse(string yaml, string path)
    {
        var problems = new List<PolicyProblem>();
        var r = new PolicyNode(path, problems);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            // Duplicate keys land here too; YamlDotNet's own text names the construct that broke.
            var message = (e.InnerException?.Message ?? e.Message).Trim();
            r.Problem((int)e.Start.Line, (int)e.Start.Column, "(yaml)", $"{message}; check indentation, quoting and duplicate keys");
            return (null, problems);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var at = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
            r.Problem(at is null ? 1 : (int)at.Start.Line, at is null ? 1 : (int)at.Start.Column, "(root)",
                "the policy must be a mapping with at least 'repository' and 'targets'");
            return (null, problems);
        }

        r.RejectUnknownKeys(root, "", RootKeys);
        var repository = r.AbsolutePath(root, "repository", "repository", required: true);
        // A policy that only versions models or config files needs no targets section.
        var targets = ReadTargets(r, root, required: PolicyNode.Child(root, "models") is null && PolicyNode.Child(root, "config") is null);
        var models = ReadModels(r, root);
        var (configPaths, configExcludes, configRemote) = ReadConfig(r, root);
        var storage = ReadStorage(r, root);
        var alerts = ReadAlerts(r, root);
        string? metricsPath = null;
        if (r.Mapping(PolicyNode.Child(root, "metrics"), "metrics", required: false, root) is { } metrics)
        {
            r.RejectUnknownKeys(metrics, "metrics", ["path"]);
            metricsPath = r.AbsolutePath(metrics, "path", "metrics.path", required: true);
        }

        var offsite = ReadOffsite(r, root, [.. targets.Select(t => t.Name), .. models.Select(m => m.Name)]);
        var encryption = ReadEncryption(r, root);
        var platform = ReadPlatform(r, root, targets, models, configPaths);
        // Copies leave the host: they are never sent in the clear.
        if (offsite.Count > 0 && encryption is null && PolicyNode.Child(root, "encryption") is null)
            r.Problem(PolicyNode.Child(root, "offsite")!, "offsite", "copies leave this host and are always encrypted: add encryption: { keyFile: <path> } (New-BackupEncryptionKey writes one)");

        if (problems.Count > 0) return (null, problems);
        return (new BackupPolicy
        {
            Path = path, Repository = repository!, Targets = targets, Models = models, ConfigPaths = configPaths, ConfigExcludes = configExcludes, ConfigRemote = configRemote,
            Storage = storage, Alerts = alerts, MetricsPath = metricsPath, Offsite = offsite, Encryption = encryption, Platform = platform,
        }, problems);
    }

    /// <summary>Names of housekeeping jobs (and their prefixes): a target so named would be mistaken for one in schedules and logs.</summary>
    public static readonly IReadOnlySet<string> ReservedTargetNames =
        new HashSet<string>(["retention", "status", "status-alerts", "readiness", "config", "config-files", "metrics", "model", "offsite", "platform", "platform-drill"], StringComparer.OrdinalIgnoreCase);

    private static List<TargetPolicy> ReadTargets(PolicyNode r, YamlMappingNode root, bool required)
    {
        var list = new List<TargetPolicy>();
        var map = r.Mapping(PolicyNode.Child(root, "targets"), "targets", required, root);
        if (map is null) return list;
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? "";
            var key = "targets." + name;
            if (!NamePattern().IsMatch(name))
            {
                r.Problem(keyNode, key, "a target name uses letters, digits, '.', '_' and '-' (at most 63), starting with a letter or digit");
                continue;
            }
            if (ReservedTargetNames.Contains(name) || name.StartsWith("model-", StringComparison.OrdinalIgnoreCase) || name.StartsWith("offsite-", StringComparison.OrdinalIgnoreCase))
            {
                r.Problem(keyNode, key, $"'{name}' is the name of a scheduled housekeeping job (retention, status, status-alerts, config, config-files, " +
                                        "metrics, model, model-<name>, offsite-<name>, platform-drill); name the target after its server, e.g. main-db");
                continue;
            }
            var t = r.Mapping(valueNode, key, required: true, keyNode);
            if (t is null) continue;
            var target = ReadTarget(r, name, key, t);
            if (target is not null) list.Add(target);
        }
        return list;
    }

    private static TargetPolicy? ReadTarget(PolicyNode r, string name, string key, YamlMappingNode t)
    {
        r.RejectUnknownKeys(t, key, TargetKeys, SecretKeys);
        var engineText = r.Text(t, "engine", key + ".engine", required: true);
        var engineImpl = Engines.EngineRegistry.Targets.FirstOrDefault(e => e.Name == engineText);
        TargetEngine? engine = engineImpl?.Kind;
        if (engineText is not null && engine is null)
            r.Problem(PolicyNode.Child(t, "engine")!, key + ".engine",
                $"'{engineText}' is not an engine; use {string.Join(", ", Engines.EngineRegistry.Targets.Select(e => e.Name).SkipLast(1))} or {Engines.EngineRegistry.Targets.Last().Name}");

        var host = r.Text(t, "host", key + ".host", required: false);
        var port = r.Integer(t, "port", key + ".port", 1, 65535);
        var socket = r.AbsolutePath(t, "socket", key + ".socket", required: false);
        var user = r.Text(t, "user", key + ".user", required: false);
        var passwordEnv = r.Text(t, "passwordEnv", key + ".passwordEnv", required: false);
        var passwordFile = r.AbsolutePath(t, "passwordFile", key + ".passwordFile", required: false);
        if (passwordEnv is not null && passwordFile is not null)
            r.Problem(PolicyNode.Child(t, "passwordFile")!, key + ".passwordFile", "give either passwordEnv or passwordFile, not both");
        var dataDir = r.AbsolutePath(t, "dataDir", key + ".dataDir", required: false);
        var configFile = r.AbsolutePath(t, "configFile", key + ".configFile", required: false);
        var toolsDir = r.AbsolutePath(t, "toolsDir", key + ".toolsDir", required: false);
        if (toolsDir is not null && Directory.Exists(toolsDir) && !File.Exists(Path.Combine(toolsDir, "mariabackup")) && !File.Exists(Path.Combine(toolsDir, "mariadb-backup")))
            r.Problem(PolicyNode.Child(t, "toolsDir")!, key + ".toolsDir", $"'{toolsDir}' holds no mariabackup; give the bin directory of the MariaDB release the server runs, e.g. /opt/mariadb-11.8/bin");
        var url = r.Text(t, "url", key + ".url", required: false);
        if (url is not null && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == "http" || uri.Scheme == "https")))
            r.Problem(PolicyNode.Child(t, "url")!, key + ".url", $"'{url}' is not an http:// or https:// URL, e.g. http://127.0.0.1:9200");
        var snapshotRepository = r.Text(t, "snapshotRepository", key + ".snapshotRepository", required: false);
        var indices = r.TextList(t, "indices", key + ".indices");
        var startCommand = r.TextList(t, "startCommand", key + ".startCommand");
        var allowEmptyText = r.Text(t, "allowEmpty", key + ".allowEmpty", required: false);
        if (allowEmptyText is not (null or "true" or "false"))
            r.Problem(PolicyNode.Child(t, "allowEmpty")!, key + ".allowEmpty", $"'{allowEmptyText}' is not true or false");
        var repositorySettings = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.Mapping(PolicyNode.Child(t, "snapshotRepositorySettings"), key + ".snapshotRepositorySettings", required: false, t) is { } rs)
        {
            foreach (var (kn, vn) in rs.Children)
            {
                if (kn is YamlScalarNode { Value: { } k } && vn is YamlScalarNode { Value: { } v }) repositorySettings[k] = v;
                else r.Problem(vn, key + ".snapshotRepositorySettings", "takes plain values, e.g. { type: fs, location: /mnt/es-backups }");
            }
            if (!repositorySettings.ContainsKey("type"))
                r.Problem(rs, key + ".snapshotRepositorySettings.type", "is required: the repository type (fs, s3, azure, gcs, url), e.g. { type: fs, location: /mnt/es-backups }");
        }
        // stream: { maxLag: 10s, maxGap: 1m, sync: second|commit, client: builtin|mariadb-binlog } for Start-BinlogStream
        // (mariadb; the engine refuses it elsewhere).
        TimeSpan? streamMaxLag = null, streamMaxGap = null;
        var streamed = false;
        var syncCommit = false;
        var streamTool = false;
        if (r.Mapping(PolicyNode.Child(t, "stream"), key + ".stream", required: false, t) is { } sm)
        {
            streamed = true;
            r.RejectUnknownKeys(sm, key + ".stream", ["maxLag", "maxGap", "sync", "client"], new Dictionary<string, string>());
            if (PolicyNode.Child(sm, "maxLag") is { } ml) streamMaxLag = r.DurationValue(ml, key + ".stream.maxLag");
            if (PolicyNode.Child(sm, "maxGap") is { } mg) streamMaxGap = r.DurationValue(mg, key + ".stream.maxGap");
            var sync = r.Text(sm, "sync", key + ".stream.sync", required: false);
            if (sync is not (null or "second" or "commit"))
                r.Problem(PolicyNode.Child(sm, "sync")!, key + ".stream.sync",
                    $"'{sync}' is not a sync mode: 'second' (the file being received is fsynced once a second, the default) or 'commit' (also at every transaction end)");
            syncCommit = sync == "commit";
            var client = r.Text(sm, "client", key + ".stream.client", required: false);
            if (client is not (null or "builtin" or "mariadb-binlog"))
                r.Problem(PolicyNode.Child(sm, "client")!, key + ".stream.client",
                    $"'{client}' is not a stream client: 'builtin' (the module's own replica connection, the default) or 'mariadb-binlog' (the server release's tool)");
            streamTool = client == "mariadb-binlog";
        }
        if (startCommand.Count > 0 && !Path.IsPathRooted(startCommand[0]))
            r.Problem(PolicyNode.Child(t, "startCommand")!, key + ".startCommand", $"'{startCommand[0]}' must be an absolute path (cron and services have a minimal PATH), e.g. [/usr/bin/systemctl, start, redis-server]");
        if (engine is null) return null;

        // Which keys it needs and which belong to other engines: the engine's own rules.
        var present = t.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).OfType<string>().ToHashSet(StringComparer.Ordinal);
        engineImpl!.ValidatePolicy(new Engines.TargetKeys(present, host, port, socket, url, snapshotRepository), (k, message) =>
            r.Problem(k is not null && PolicyNode.Child(t, k) is { } n ? n : t, k is null ? key : key + "." + k, message));

        var types = BackupTypes(engine.Value);
        var schedule = new Dictionary<string, string>();
        foreach (var (type, k, vn) in TypedEntries(r, t, "schedule", key, types, engineText!))
        {
            var expr = (vn as YamlScalarNode)?.Value;
            if (IsCron(expr)) schedule[type] = expr!;
            else r.Problem(vn, k, $"'{expr}' is not a 5-field cron expression (minute hour day month weekday), e.g. \"0 2 * * *\"");
        }
        var retention = new Dictionary<string, TimeSpan>();
        foreach (var (type, k, vn) in TypedEntries(r, t, "retention", key, types, engineText!))
            if (r.DurationValue(vn, k) is { } d) retention[type] = d;

        return new TargetPolicy
        {
            Name = name, Engine = engine.Value, Host = host, Port = port, Socket = socket, User = user,
            PasswordSource = passwordEnv is not null ? "env:" + passwordEnv : passwordFile is not null ? "file:" + passwordFile : null,
            DataDir = dataDir, ConfigFile = configFile, ToolsDir = toolsDir, Url = url, SnapshotRepository = snapshotRepository, Indices = indices,
            Schedule = schedule, Retention = retention, StartCommand = startCommand, SnapshotRepositorySettings = repositorySettings,
            Rpo = Objective(r, t, "rpo", key), Rto = Objective(r, t, "rto", key),
            AllowEmpty = allowEmptyText == "true", Stream = streamed, StreamMaxLag = streamMaxLag, StreamMaxGap = streamMaxGap, StreamSyncCommit = syncCommit, StreamWithMariaDbBinlog = streamTool,
        };
    }

    /// <summary>The entries of a per-backup-type mapping (schedule, retention); a type the engine lacks is a problem.</summary>
    private static IEnumerable<(string Type, string Key, YamlNode Value)> TypedEntries(PolicyNode r, YamlMappingNode target,
        string section, string targetKey, IReadOnlyList<string> types, string engineText)
    {
        if (r.Mapping(PolicyNode.Child(target, section), $"{targetKey}.{section}", required: false, target) is not { } map) yield break;
        foreach (var (kn, vn) in map.Children)
        {
            var type = ((YamlScalarNode)kn).Value ?? "";
            var key = $"{targetKey}.{section}.{type}";
            if (types.Contains(type)) yield return (type, key, vn);
            else r.Problem(kn, key, $"'{type}' is not a backup type of {engineText}; use {string.Join(", ", types)}");
        }
    }

    private static bool IsCron(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression) || expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length != 5)
            return false;
        try { CronExpression.Parse(expression, CronFormat.Standard); return true; }
        catch (CronFormatException) { return false; }
    }

    private static List<ModelPolicy> ReadModels(PolicyNode r, YamlMappingNode root)
    {
        var list = new List<ModelPolicy>();
        if (r.Mapping(PolicyNode.Child(root, "models"), "models", required: false, root) is not { } map) return list;
        foreach (var (kn, vn) in map.Children)
        {
            var name = ((YamlScalarNode)kn).Value ?? "";
            var key = "models." + name;
            if (!NamePattern().IsMatch(name)) { r.Problem(kn, key, "a model name uses letters, digits, '.', '_' and '-', starting with a letter or digit"); continue; }
            if (r.Mapping(vn, key, required: true, kn) is not { } m) continue;
            r.RejectUnknownKeys(m, key, ModelKeys);
            var path = r.AbsolutePath(m, "path", key + ".path", required: true);
            var keep = r.Integer(m, "keep", key + ".keep", 1, 1000) ?? 5;
            var special = r.Text(m, "keepSpecialBits", key + ".keepSpecialBits", required: false);
            if (special is not (null or "true" or "false"))
                r.Problem(PolicyNode.Child(m, "keepSpecialBits")!, key + ".keepSpecialBits", $"'{special}' is not true or false");
            var (rpo, rto) = (Objective(r, m, "rpo", key), Objective(r, m, "rto", key));
            if (path is not null) list.Add(new ModelPolicy(name, path, keep) { KeepSpecialBits = special == "true", Rpo = rpo, Rto = rto });
        }
        return list;
    }

    private static (List<string> Paths, IReadOnlyList<string> Excludes, string? Remote) ReadConfig(PolicyNode r, YamlMappingNode root)
    {
        if (r.Mapping(PolicyNode.Child(root, "config"), "config", required: false, root) is not { } map) return ([], [], null);
        r.RejectUnknownKeys(map, "config", ConfigKeys);
        var paths = r.TextList(map, "paths", "config.paths");
        var node = PolicyNode.Child(map, "paths") as YamlSequenceNode;
        for (var i = 0; i < paths.Count; i++)
            if (!Path.IsPathFullyQualified(paths[i]))
                r.Problem(node!.Children[i], "config.paths", $"'{paths[i]}' is not an absolute path; write the full path, e.g. /etc/myapp");
        var excludes = r.TextList(map, "exclude", "config.exclude");
        var remote = r.Text(map, "remote", "config.remote", required: false);
        return (paths.ToList(), excludes, remote);
    }

    private static StoragePolicy ReadStorage(PolicyNode r, YamlMappingNode root)
    {
        var defaults = new StoragePolicy(20, 10);
        if (r.Mapping(PolicyNode.Child(root, "storage"), "storage", required: false, root) is not { } map) return defaults;
        r.RejectUnknownKeys(map, "storage", StorageKeys);
        var warning = r.Integer(map, "warningFreePercent", "storage.warningFreePercent", 0, 100) ?? defaults.WarningFreePercent;
        var critical = r.Integer(map, "criticalFreePercent", "storage.criticalFreePercent", 0, 100) ?? defaults.CriticalFreePercent;
        if (critical >= warning)
            r.Problem(PolicyNode.Child(map, "criticalFreePercent") ?? map, "storage.criticalFreePercent",
                $"{critical} must be below warningFreePercent ({warning}): critical is the lower, later alarm");
        var compression = r.Text(map, "compression", "storage.compression", required: false) ?? defaults.Compression;
        if (compression is not ("zstd" or "none"))
            r.Problem(PolicyNode.Child(map, "compression")!, "storage.compression", $"'{compression}' is not a compression; use zstd or none");
        return new StoragePolicy(warning, critical)
        {
            Compression = compression,
            // zstd's own range; 19 is already very slow for a nightly stream.
            CompressionLevel = r.Integer(map, "compressionLevel", "storage.compressionLevel", 1, 19) ?? defaults.CompressionLevel,
            CompressionThreads = r.Integer(map, "compressionThreads", "storage.compressionThreads", 0, 256) ?? defaults.CompressionThreads,
        };
    }

    private static AlertPolicy ReadAlerts(PolicyNode r, YamlMappingNode root)
    {
        var policy = new AlertPolicy();
        if (r.Mapping(PolicyNode.Child(root, "alerts"), "alerts", required: false, root) is not { } map) return policy;
        r.RejectUnknownKeys(map, "alerts", AlertKeys);
        if (PolicyNode.Child(map, "delayGrace") is { } g && r.DurationValue(g, "alerts.delayGrace") is { } grace)
            policy = policy with { DelayGrace = grace };
        if (PolicyNode.Child(map, "repeatEvery") is { } e && r.DurationValue(e, "alerts.repeatEvery") is { } every)
            policy = policy with { RepeatEvery = every };
        if (r.Mapping(PolicyNode.Child(map, "channels"), "alerts.channels", required: false, map) is { } channels)
        {
            r.RejectUnknownKeys(channels, "alerts.channels", ChannelNames);
            policy = policy with { Channels = ReadChannels(r, channels) };
        }
        var configured = PolicyNode.Child(map, "channels") is YamlMappingNode given
            ? given.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "").ToHashSet(StringComparer.Ordinal)
            : [];
        if (r.Mapping(PolicyNode.Child(map, "routes"), "alerts.routes", required: false, map) is { } routes)
        {
            r.RejectUnknownKeys(routes, "alerts.routes", RouteKeys);
            policy = policy with
            {
                CriticalRoute = Channels(r, routes, "critical", configured),
                WarningRoute = Channels(r, routes, "warning", configured),
            };
        }
        else // the default routes, narrowed to the channels that have settings: a route nobody can receive is no route
            policy = policy with
            {
                CriticalRoute = policy.CriticalRoute.Where(configured.Contains).ToList(),
                WarningRoute = policy.WarningRoute.Where(configured.Contains).ToList(),
            };
        if (PolicyNode.Child(map, "heartbeat") is { } heartbeat) policy = policy with { Heartbeats = ReadHeartbeats(r, heartbeat) };
        return policy;
    }

    private static IReadOnlyList<string> Channels(PolicyNode r, YamlMappingNode routes, string severity, IReadOnlySet<string> configured)
    {
        var key = "alerts.routes." + severity;
        var names = r.TextList(routes, severity, key);
        var node = PolicyNode.Child(routes, severity) as YamlSequenceNode;
        for (var i = 0; i < names.Count; i++)
            if (!ChannelNames.Contains(names[i]))
                r.Problem(node!.Children[i], key, $"'{names[i]}' is not a channel; use {string.Join(", ", ChannelNames)}");
            else if (!configured.Contains(names[i]))
                r.Problem(node!.Children[i], key,
                    $"'{names[i]}' has no settings under alerts.channels.{names[i]}, so nobody would receive these alerts; add its settings, or remove it from the route");
        return names;
    }
}
