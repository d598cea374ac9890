using System.Text;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.Config;

/// <summary>One secret found in a config file: the line (1-based) and what kind it looked like. Never the value.</summary>
public sealed record SecretHit(int Line, string Kind);

/// <summary>
/// Finds secrets in the text of a config file before it is committed, and replaces their values with a fixed
/// placeholder, so the rest of the file is still versioned and the history (which is never rewritten, and is pushed)
/// never holds them. The whole file is scanned, not its head. Rules: requirepass/masterauth (Redis), password/secret/
/// token/key assignments in INI, YAML, .env and properties files, credentials in URLs, AWS access keys, Slack webhook
/// URLs and GitHub tokens. Binary files (a NUL byte) are not scanned.
/// </summary>
public static partial class SecretScanner
{
    public const string Placeholder = "<redacted-by-backuptools>";

    // key = value | key: value | key value (redis), with the key naming a secret; the value is group "value".
    [GeneratedRegex(@"^(?<key>\s*(?:export\s+)?[""']?[A-Za-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|private[_-]?key)[A-Za-z0-9_.\-]*[""']?\s*(?:=|:)\s*)(?<value>[^\s#;].*?)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Assignment();

    [GeneratedRegex(@"^(?<key>\s*(?:requirepass|masterauth|masteruser\s+\S+\s+)\s+)(?<value>\S.*?)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex RedisAuth();

    [GeneratedRegex(@"(?<key>[a-z][a-z0-9+.\-]*://[^/\s:@]+:)(?<value>[^/\s@]+)(?=@)", RegexOptions.IgnoreCase)]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?<value>AKIA[0-9A-Z]{16}|https://hooks\.slack\.com/services/[A-Za-z0-9/]+|gh[pousr]_[A-Za-z0-9]{36,})")]
    private static partial Regex Tokens();

    [GeneratedRegex(@"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")]
    public static partial Regex PrivateKey();

    /// <summary>The content with every secret value replaced, and where they were; null when the file is binary.</summary>
    public static (byte[] Content, IReadOnlyList<SecretHit> Hits)? Redact(byte[] content)
    {
        if (content.AsSpan(0, Math.Min(content.Length, 8192)).IndexOf((byte)0) >= 0) return null;
        var text = Encoding.UTF8.GetString(content);
        var hits = new List<SecretHit>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith('#') || trimmed.StartsWith(';') || trimmed.StartsWith("//", StringComparison.Ordinal)) continue;
            var original = line;
            line = Replace(RedisAuth(), line, "a Redis password", i, hits);
            line = Replace(Assignment(), line, "a password, secret, token or key assignment", i, hits);
            line = Replace(UrlCredentials(), line, "a password in a URL", i, hits);
            line = Replace(Tokens(), line, "a token (AWS key, Slack webhook or GitHub token)", i, hits);
            if (!ReferenceEquals(line, original)) lines[i] = line;
        }
        return hits.Count == 0 ? (content, hits) : (Encoding.UTF8.GetBytes(string.Join('\n', lines)), hits);
    }

    private static string Replace(Regex rule, string line, string kind, int index, List<SecretHit> hits)
    {
        var changed = rule.Replace(line, m =>
        {
            var value = m.Groups["value"].Value.Trim('"', '\'');
            if (value.Length == 0 || value == Placeholder || value.StartsWith('$') || value.StartsWith("%(", StringComparison.Ordinal)) return m.Value; // empty, done, or a reference
            return (m.Groups["key"].Success ? m.Groups["key"].Value : "") + Placeholder;
        });
        if (!ReferenceEquals(changed, line) && changed != line && !hits.Any(h => h.Line == index + 1 && h.Kind == kind)) hits.Add(new SecretHit(index + 1, kind));
        return changed;
    }

    /// <summary>
    /// For a restore: the history's lines whose value is the placeholder take the value the live file has on the line
    /// with the same key, so restoring never writes the placeholder over a working secret. Returns the lines kept.
    /// </summary>
    public static (string Content, IReadOnlyList<int> KeptLines) KeepLiveSecrets(string restored, string? live)
    {
        if (!restored.Contains(Placeholder, StringComparison.Ordinal)) return (restored, []);
        var liveLines = live?.Split('\n') ?? [];
        var lines = restored.Split('\n');
        var kept = new List<int>();
        for (var i = 0; i < lines.Length; i++)
        {
            var at = lines[i].IndexOf(Placeholder, StringComparison.Ordinal);
            if (at < 0) continue;
            var prefix = lines[i][..at];
            if (liveLines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal) && !l.Contains(Placeholder, StringComparison.Ordinal)) is { } liveLine)
            {
                lines[i] = liveLine;
                kept.Add(i + 1);
            }
        }
        return (string.Join('\n', lines), kept);
    }
}
