using BackupTools.Model;
using YamlDotNet.RepresentationModel;

namespace BackupTools.Engine.Policy;

/// <summary>
/// Reads typed values out of YAML nodes and records a <see cref="PolicyProblem"/> with the node's line and column
/// whenever a value is missing or of the wrong form, so that one pass reports every problem in the file.
/// </summary>
internal sealed class PolicyNode(string file, List<PolicyProblem> problems)
{
    public string File { get; } = file;

    public void Problem(YamlNode node, string key, string message) =>
        problems.Add(new PolicyProblem(File, (int)node.Start.Line, (int)node.Start.Column, key, message));

    public void Problem(int line, int column, string key, string message) =>
        problems.Add(new PolicyProblem(File, line, column, key, message));

    /// <summary>Reports every key of <paramref name="map"/> that is not in <paramref name="known"/>.</summary>
    public void RejectUnknownKeys(YamlMappingNode map, string prefix, IReadOnlyCollection<string> known,
        IReadOnlyDictionary<string, string>? explained = null)
    {
        foreach (var key in map.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (known.Contains(name)) continue;
            if (explained is not null && explained.TryGetValue(name, out var why))
            {
                Problem(key, Join(prefix, name), why);
                continue;
            }
            Problem(key, Join(prefix, name), $"unknown key; expected one of: {string.Join(", ", known)}");
        }
    }

    public static string Join(string prefix, string key) => prefix.Length == 0 ? key : prefix + "." + key;

    public static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    public YamlMappingNode? Mapping(YamlNode? node, string key, bool required, YamlNode parent)
    {
        if (node is null)
        {
            if (required) Problem(parent, key, "is required");
            return null;
        }
        if (node is YamlMappingNode map) return map;
        if (node is YamlScalarNode { Value: null or "" or "~" or "null" } && !required) return null;
        Problem(node, key, "must be a mapping of key: value pairs");
        return null;
    }

    public string? Text(YamlMappingNode map, string name, string key, bool required)
    {
        var node = Child(map, name);
        if (node is null)
        {
            if (required) Problem(map, key, "is required");
            return null;
        }
        if (node is YamlScalarNode scalar && !string.IsNullOrWhiteSpace(scalar.Value)) return scalar.Value;
        Problem(node, key, "must be a non-empty text value");
        return null;
    }

    public string? AbsolutePath(YamlMappingNode map, string name, string key, bool required)
    {
        var value = Text(map, name, key, required);
        if (value is null) return null;
        if (Path.IsPathFullyQualified(value)) return value;
        Problem(Child(map, name)!, key, $"'{value}' is not an absolute path; write the full path, e.g. /backup");
        return null;
    }

    public int? Integer(YamlMappingNode map, string name, string key, int min, int max)
    {
        var node = Child(map, name);
        if (node is null) return null;
        if (node is YamlScalarNode s && int.TryParse(s.Value, System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max)
            return n;
        Problem(node, key, $"'{(node as YamlScalarNode)?.Value ?? node.NodeType.ToString()}' is not a whole number from {min} to {max}");
        return null;
    }

    public TimeSpan? DurationValue(YamlNode node, string key)
    {
        var text = (node as YamlScalarNode)?.Value;
        if (Duration.TryParse(text, out var value)) return value;
        Problem(node, key, $"'{text ?? node.NodeType.ToString()}' is not a duration; {Duration.ExpectedForm}");
        return null;
    }

    public IReadOnlyList<string> TextList(YamlMappingNode map, string name, string key)
    {
        var node = Child(map, name);
        if (node is null) return Array.Empty<string>();
        if (node is not YamlSequenceNode seq)
        {
            Problem(node, key, "must be a list, e.g. [a, b] or one '- item' per line");
            return Array.Empty<string>();
        }
        var result = new List<string>();
        foreach (var item in seq)
        {
            if (item is YamlScalarNode { Value: { Length: > 0 } v }) result.Add(v);
            else Problem(item, key, "every item must be a non-empty text value");
        }
        return result;
    }
}
