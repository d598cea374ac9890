using System.Globalization;
using BackupTools.Model;
using YamlDotNet.RepresentationModel;

namespace BackupTools.Engine.Policy;

/// <summary>offsite: the remote repositories copies go to; encryption: the key they are encrypted with.</summary>
public static partial class PolicyParser
{
    private static readonly string[] AzureKeys =
        ["kind", "connectionStringEnv", "connectionStringFile", "accountUrl", "container", "prefix", "copies", "retention", "immutableDays", "maxMBps", "maxLag"];
    private static readonly string[] S3Keys =
        ["kind", "endpoint", "bucket", "region", "accessKeyIdEnv", "accessKeyIdFile", "secretAccessKeyEnv", "secretAccessKeyFile", "prefix", "copies",
         "retention", "immutableDays", "maxMBps", "maxLag"];
    private static readonly string[] EncryptionKeys = ["keyFile", "keyEnv", "local", "previousKeyFiles"];
    private static readonly string[] OffsiteRetentionTypes = ["full", "incremental", "binlog", "snapshot", "model"];

    private static IReadOnlyList<OffsitePolicy> ReadOffsite(PolicyNode r, YamlMappingNode root, IReadOnlyCollection<string> copyable)
    {
        var list = new List<OffsitePolicy>();
        if (r.Mapping(PolicyNode.Child(root, "offsite"), "offsite", required: false, root) is not { } offsite) return list;
        foreach (var (kn, vn) in offsite.Children)
        {
            var name = ((YamlScalarNode)kn).Value ?? "";
            var key = "offsite." + name;
            if (!NamePattern().IsMatch(name))
            {
                r.Problem(kn, key, "an offsite name uses letters, digits, '.', '_' and '-' (at most 63), starting with a letter or digit");
                continue;
            }
            if (r.Mapping(vn, key, required: true, kn) is not { } map) continue;
            var kindText = r.Text(map, "kind", key + ".kind", required: true);
            OffsiteKind? kind = kindText switch { "azureBlob" => OffsiteKind.AzureBlob, "s3" => OffsiteKind.S3, _ => null };
            if (kindText is not null && kind is null)
                r.Problem(PolicyNode.Child(map, "kind")!, key + ".kind", $"'{kindText}' is not a kind of offsite repository; use azureBlob or s3");
            if (kind is null) continue;
            r.RejectUnknownKeys(map, key, kind == OffsiteKind.AzureBlob ? AzureKeys : S3Keys,
                kind == OffsiteKind.AzureBlob ? SecretHint("connectionString") : SecretHint("accessKeyId", "secretAccessKey"));
            var prefix = r.Text(map, "prefix", key + ".prefix", required: false) ?? "";
            if (prefix.Length > 0 && (prefix.StartsWith('/') || prefix.Contains("..") || !prefix.EndsWith('/')))
                r.Problem(PolicyNode.Child(map, "prefix")!, key + ".prefix", $"'{prefix}' must be a relative path ending in '/', e.g. prod/");
            var copies = ReadCopies(r, map, key, copyable);
            var (retention, modelsKept) = ReadOffsiteRetention(r, map, key);
            var immutable = r.Integer(map, "immutableDays", key + ".immutableDays", 1, 36500);
            double? maxMBps = null;
            if (r.Text(map, "maxMBps", key + ".maxMBps", required: false) is { } mbps)
            {
                if (double.TryParse(mbps, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0) maxMBps = v;
                else r.Problem(PolicyNode.Child(map, "maxMBps")!, key + ".maxMBps", $"'{mbps}' is not a positive number of megabytes per second, e.g. 50");
            }
            var maxLag = PolicyNode.Child(map, "maxLag") is { } lagNode ? r.DurationValue(lagNode, key + ".maxLag") : null;
            if (kind == OffsiteKind.AzureBlob)
            {
                var connection = Secret(r, map, key, "connectionString", required: false);
                var accountUrl = r.Text(map, "accountUrl", key + ".accountUrl", required: false);
                if (connection is null && accountUrl is null && PolicyNode.Child(map, "connectionStringEnv") is null && PolicyNode.Child(map, "connectionStringFile") is null)
                    r.Problem(map, key + ".connectionStringEnv", "is required: the connection string's environment variable (or connectionStringFile, or accountUrl with a managed identity)");
                if (accountUrl is not null && !Uri.TryCreate(accountUrl, UriKind.Absolute, out _))
                    r.Problem(PolicyNode.Child(map, "accountUrl")!, key + ".accountUrl", $"'{accountUrl}' is not a URL, e.g. https://myaccount.blob.core.windows.net");
                var container = r.Text(map, "container", key + ".container", required: true);
                if (container is not null && !ContainerPattern().IsMatch(container))
                    r.Problem(PolicyNode.Child(map, "container")!, key + ".container", $"'{container}' is not an Azure container name: 3-63 lower-case letters, digits and single '-'");
                list.Add(new OffsitePolicy
                {
                    Name = name, Kind = OffsiteKind.AzureBlob, ConnectionStringSource = connection, AccountUrl = accountUrl, Container = container,
                    Prefix = prefix, Copies = copies, Retention = retention, ModelVersionsKept = modelsKept, ImmutableDays = immutable, MaxMBps = maxMBps, MaxLag = maxLag,
                });
            }
            else
            {
                var endpoint = r.Text(map, "endpoint", key + ".endpoint", required: false);
                if (endpoint is not null && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
                    r.Problem(PolicyNode.Child(map, "endpoint")!, key + ".endpoint", $"'{endpoint}' is not an http:// or https:// URL, e.g. https://s3.eu-west-1.amazonaws.com");
                var bucket = r.Text(map, "bucket", key + ".bucket", required: true);
                if (bucket is not null && !System.Text.RegularExpressions.Regex.IsMatch(bucket, "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))
                    r.Problem(PolicyNode.Child(map, "bucket")!, key + ".bucket", $"'{bucket}' is not an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-'");
                var accessKey = Secret(r, map, key, "accessKeyId", required: false);
                var secretKey = Secret(r, map, key, "secretAccessKey", required: false);
                if ((accessKey is null) != (secretKey is null))
                    r.Problem(map, key, "give both accessKeyId… and secretAccessKey… (Env or File), or neither for the default credential chain");
                list.Add(new OffsitePolicy
                {
                    Name = name, Kind = OffsiteKind.S3, Endpoint = endpoint, Bucket = bucket, Region = r.Text(map, "region", key + ".region", required: false),
                    AccessKeyIdSource = accessKey, SecretAccessKeySource = secretKey, Prefix = prefix, Copies = copies, Retention = retention,
                    ModelVersionsKept = modelsKept, ImmutableDays = immutable, MaxMBps = maxMBps, MaxLag = maxLag,
                });
            }
        }
        return list;
    }

    /// <summary>copies: all (the default), or a list of the policy's target and model names, and config (the config history).</summary>
    private static IReadOnlyList<string>? ReadCopies(PolicyNode r, YamlMappingNode map, string key, IReadOnlyCollection<string> copyable)
    {
        if (PolicyNode.Child(map, "copies") is not { } node) return null;
        if (node is YamlScalarNode { Value: "all" }) return null;
        var names = r.TextList(map, "copies", key + ".copies");
        foreach (var n in names.Where(n => !copyable.Contains(n) && n != "config"))
            r.Problem(node, key + ".copies", $"'{n}' is not a target or model of this policy; use all, or a list of {string.Join(", ", copyable.Append("config"))}");
        return names;
    }

    private static (IReadOnlyDictionary<string, TimeSpan>, int?) ReadOffsiteRetention(PolicyNode r, YamlMappingNode map, string key)
    {
        var retention = new Dictionary<string, TimeSpan>();
        int? models = null;
        if (r.Mapping(PolicyNode.Child(map, "retention"), key + ".retention", required: false, map) is not { } ret) return (retention, models);
        r.RejectUnknownKeys(ret, key + ".retention", OffsiteRetentionTypes);
        foreach (var (kn, vn) in ret.Children)
        {
            var type = ((YamlScalarNode)kn).Value ?? "";
            if (!OffsiteRetentionTypes.Contains(type)) continue;
            if (type == "model") models = r.Integer(ret, "model", key + ".retention.model", 1, 1000);
            else if (r.DurationValue(vn, $"{key}.retention.{type}") is { } d) retention[type] = d;
        }
        return (retention, models);
    }

    private static EncryptionPolicy? ReadEncryption(PolicyNode r, YamlMappingNode root)
    {
        if (r.Mapping(PolicyNode.Child(root, "encryption"), "encryption", required: false, root) is not { } map)
            return null;
        r.RejectUnknownKeys(map, "encryption", EncryptionKeys, new Dictionary<string, string>
        {
            ["key"] = "the key never lives in the policy; use keyFile: <path to a 0600 file> (New-BackupEncryptionKey writes one) or keyEnv: <VARIABLE>",
        });
        var file = r.AbsolutePath(map, "keyFile", "encryption.keyFile", required: false);
        var env = r.Text(map, "keyEnv", "encryption.keyEnv", required: false);
        if (file is not null && env is not null) r.Problem(PolicyNode.Child(map, "keyEnv")!, "encryption.keyEnv", "give either keyFile or keyEnv, not both");
        if (file is null && env is null && PolicyNode.Child(map, "keyFile") is null && PolicyNode.Child(map, "keyEnv") is null)
            r.Problem(map, "encryption.keyFile", "is required: the key file New-BackupEncryptionKey wrote (or keyEnv)");
        var localText = r.Text(map, "local", "encryption.local", required: false);
        if (localText is not (null or "true" or "false")) r.Problem(PolicyNode.Child(map, "local")!, "encryption.local", $"'{localText}' is not true or false");
        // Keys sets were stored under before a rotation (encryption.local): read, never written with.
        var previous = PolicyNode.Child(map, "previousKeyFiles") is null ? [] : r.TextList(map, "previousKeyFiles", "encryption.previousKeyFiles");
        foreach (var p in previous.Where(p => !Path.IsPathFullyQualified(p)))
            r.Problem(PolicyNode.Child(map, "previousKeyFiles")!, "encryption.previousKeyFiles", $"'{p}' is not an absolute path");
        if (file is null && env is null) return null;
        return new EncryptionPolicy
        {
            KeySource = file is not null ? "file:" + file : "env:" + env, Local = localText == "true",
            PreviousKeySources = previous.Where(Path.IsPathFullyQualified).Select(p => "file:" + p).ToList(),
        };
    }

    [System.Text.RegularExpressions.GeneratedRegex("^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\\z")]
    private static partial System.Text.RegularExpressions.Regex ContainerPattern();
}
