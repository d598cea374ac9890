using BackupTools.Model;

namespace BackupTools.Engine.Policy;

/// <summary>Every secret a policy names, as (where, source) with sources "env:X", "file:/p" or "value:…".</summary>
public static class PolicySecrets
{
    public static IEnumerable<(string Where, string Source)> Sources(BackupPolicy policy)
    {
        foreach (var t in policy.Targets)
            if (t.PasswordSource is { } s) yield return (t.Name, s);
        foreach (var (name, channel) in policy.Alerts.Channels)
        {
            var source = channel switch
            {
                SlackChannel c => c.WebhookUrlSource, WebhookChannel c => c.UrlSource, TwilioChannel c => c.AuthTokenSource, EmailChannel c => c.PasswordSource, _ => null,
            };
            if (source is not null) yield return ($"alerts.channels.{name}", source);
        }
        foreach (var h in policy.Alerts.Heartbeats) yield return ("alerts.heartbeat", h);
        foreach (var o in policy.Offsite)
            foreach (var s in new[] { o.ConnectionStringSource, o.AccessKeyIdSource, o.SecretAccessKeySource }.OfType<string>())
                yield return ($"offsite.{o.Name}", s);
        // The encryption key above all: a key file in the config history would hand the backups' key to whoever reads it.
        if (policy.Encryption is { } e)
            foreach (var k in e.PreviousKeySources.Prepend(e.KeySource)) yield return ("encryption", k);
    }

    /// <summary>The files the policy's secrets are read from: never to be committed to the config history.</summary>
    public static IReadOnlyList<string> Files(BackupPolicy policy) =>
        Sources(policy).Where(s => s.Source.StartsWith("file:", StringComparison.Ordinal)).Select(s => Path.GetFullPath(s.Source[5..])).Distinct().ToList();
}
