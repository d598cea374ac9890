using BackupTools.Model;
using YamlDotNet.RepresentationModel;

namespace BackupTools.Engine.Policy;

/// <summary>alerts.channels: the settings of each alert channel. Secrets only by …Env / …File keys.</summary>
public static partial class PolicyParser
{
    private static readonly string[] SlackKeys = ["webhookUrlEnv", "webhookUrlFile"];
    private static readonly string[] EmailKeys = ["host", "port", "security", "user", "passwordEnv", "passwordFile", "from", "to"];
    private static readonly string[] TwilioKeys = ["accountSid", "authTokenEnv", "authTokenFile", "from", "to", "apiBase"];
    private static readonly string[] WebhookKeys = ["url", "urlEnv", "urlFile"];
    private static readonly string[] EmailSecurity = ["starttls", "ssl", "none"];

    private static Dictionary<string, string> SecretHint(params string[] names) =>
        names.ToDictionary(n => n, n => $"secrets never live in the policy; use {n}Env: <VARIABLE> or {n}File: <path to a 0600 file>");

    private static IReadOnlyDictionary<string, AlertChannel> ReadChannels(PolicyNode r, YamlMappingNode channels)
    {
        var result = new Dictionary<string, AlertChannel>();
        foreach (var (kn, vn) in channels.Children)
        {
            var name = ((YamlScalarNode)kn).Value ?? "";
            var key = "alerts.channels." + name;
            if (!ChannelNames.Contains(name) || r.Mapping(vn, key, required: true, channels) is not { } map) continue;
            AlertChannel? channel = name switch
            {
                "slack" => ReadSlack(r, map, key),
                "email" => ReadEmail(r, map, key),
                "sms" or "phone" => ReadTwilio(r, map, key, name),
                _ => ReadWebhook(r, map, key),
            };
            if (channel is not null) result[name] = channel;
        }
        return result;
    }

    private static SlackChannel? ReadSlack(PolicyNode r, YamlMappingNode map, string key)
    {
        r.RejectUnknownKeys(map, key, SlackKeys, SecretHint("webhookUrl"));
        return Secret(r, map, key, "webhookUrl", required: true) is { } source ? new SlackChannel(source) : null;
    }

    private static EmailChannel? ReadEmail(PolicyNode r, YamlMappingNode map, string key)
    {
        r.RejectUnknownKeys(map, key, EmailKeys, SecretHint("password"));
        var host = r.Text(map, "host", key + ".host", required: true);
        var security = r.Text(map, "security", key + ".security", required: false) ?? "starttls";
        if (!EmailSecurity.Contains(security))
            r.Problem(PolicyNode.Child(map, "security")!, key + ".security", $"'{security}' is not one of {string.Join(", ", EmailSecurity)}");
        var port = r.Integer(map, "port", key + ".port", 1, 65535) ?? (security == "ssl" ? 465 : 587);
        var from = r.Text(map, "from", key + ".from", required: true);
        var to = Recipients(r, map, key);
        var user = r.Text(map, "user", key + ".user", required: false);
        var password = Secret(r, map, key, "password", required: false);
        if (host is null || from is null || to.Count == 0) return null;
        return new EmailChannel(host, port, security, from, to) { User = user, PasswordSource = password };
    }

    private static TwilioChannel? ReadTwilio(PolicyNode r, YamlMappingNode map, string key, string name)
    {
        r.RejectUnknownKeys(map, key, TwilioKeys, SecretHint("authToken"));
        var sid = r.Text(map, "accountSid", key + ".accountSid", required: true);
        var token = Secret(r, map, key, "authToken", required: true);
        var from = r.Text(map, "from", key + ".from", required: true);
        var to = Recipients(r, map, key);
        var apiBase = Url(r, map, key, "apiBase") ?? "https://api.twilio.com";
        if (sid is null || token is null || from is null || to.Count == 0) return null;
        return new TwilioChannel(name, sid, token, from, to, apiBase.TrimEnd('/'));
    }

    private static WebhookChannel? ReadWebhook(PolicyNode r, YamlMappingNode map, string key)
    {
        r.RejectUnknownKeys(map, key, WebhookKeys);
        // A plain url is allowed (many webhooks carry no secret); a token-bearing one belongs in urlEnv/urlFile.
        if (Url(r, map, key, "url") is { } url) return new WebhookChannel("value:" + url);
        return Secret(r, map, key, "url", required: true) is { } source ? new WebhookChannel(source) : null;
    }

    /// <summary>alerts.heartbeat: one push URL ({ url | urlEnv | urlFile }) or a list of them.</summary>
    private static IReadOnlyList<string> ReadHeartbeats(PolicyNode r, YamlNode node)
    {
        var items = node is YamlSequenceNode seq ? seq.Children.ToList() : [node];
        var sources = new List<string>();
        for (var i = 0; i < items.Count; i++)
        {
            var key = node is YamlSequenceNode ? $"alerts.heartbeat[{i}]" : "alerts.heartbeat";
            if (items[i] is not YamlMappingNode map)
            {
                r.Problem(items[i], key, "is a push URL given as { url: https://hc-ping.com/<uuid> } or { urlEnv: <VARIABLE> } or { urlFile: <path> }");
                continue;
            }
            if (ReadWebhook(r, map, key) is { } w) sources.Add(w.UrlSource);
        }
        return sources;
    }

    private static IReadOnlyList<string> Recipients(PolicyNode r, YamlMappingNode map, string key)
    {
        var to = r.TextList(map, "to", key + ".to");
        if (to.Count == 0 && PolicyNode.Child(map, "to") is null) r.Problem(map, key + ".to", "is required: a list of recipients");
        return to;
    }

    private static string? Url(PolicyNode r, YamlMappingNode map, string key, string name)
    {
        var url = r.Text(map, name, $"{key}.{name}", required: false);
        if (url is not null && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            r.Problem(PolicyNode.Child(map, name)!, $"{key}.{name}", $"'{url}' is not an http:// or https:// URL");
            return null;
        }
        return url;
    }

    /// <summary>A secret's source from &lt;name&gt;Env or &lt;name&gt;File (absolute path), as "env:X" / "file:/p".</summary>
    private static string? Secret(PolicyNode r, YamlMappingNode map, string key, string name, bool required)
    {
        var env = r.Text(map, name + "Env", $"{key}.{name}Env", required: false);
        var file = r.AbsolutePath(map, name + "File", $"{key}.{name}File", required: false);
        if (env is not null && file is not null)
            r.Problem(PolicyNode.Child(map, name + "File")!, $"{key}.{name}File", $"give either {name}Env or {name}File, not both");
        if (env is null && file is null && required && PolicyNode.Child(map, name + "Env") is null && PolicyNode.Child(map, name + "File") is null)
            r.Problem(map, $"{key}.{name}Env", $"is required: the environment variable holding the {name} (or {name}File)");
        return env is not null ? "env:" + env : file is not null ? "file:" + file : null;
    }
}
