using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security;
using System.Text;
using BackupTools.Engine.Targets;
using BackupTools.Model;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace BackupTools.Engine.Alerts;

/// <summary>A channel refused or could not take an alert.</summary>
public sealed class AlertDeliveryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Delivers one alert to one channel: Slack incoming webhook (<c>&lt;!channel&gt;</c> for Critical, <c>&lt;!here&gt;</c>
/// for Warning), e-mail through SMTP (MailKit), Twilio Messages (sms) and Calls (phone), or a JSON webhook.
/// </summary>
public static class AlertSenders
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(20) };

    public static Task SendAsync(AlertChannel channel, Alert alert, bool resolved, CancellationToken ct) => channel switch
    {
        SlackChannel s => PostJsonAsync(Secret(s.WebhookUrlSource, "slack", "webhook URL"), "slack",
            JsonContent.Create(new SlackMessage(SlackText(alert, resolved))), null, ct),
        WebhookChannel w => PostJsonAsync(Secret(w.UrlSource, "webhook", "URL"), "webhook",
            JsonContent.Create(new AlertPayload(alert.Key, alert.Severity.ToString(), alert.Title, alert.Text, alert.Since, alert.Host, resolved),
                AlertJson.Default.AlertPayload), null, ct),
        TwilioChannel t => TwilioAsync(t, alert, resolved, ct),
        EmailChannel e => EmailAsync(e, alert, resolved, ct),
        _ => throw new AlertDeliveryException($"Alert channel '{channel.Name}' has no sender."),
    };

    public static string PlainText(Alert alert, bool resolved) => resolved
        ? $"RESOLVED: {alert.Title}\n{alert.Text}\nhost: {alert.Host}"
        : $"{alert.Severity.ToString().ToUpperInvariant()}: {alert.Title}\n{alert.Text}\nsince: {alert.Since:yyyy-MM-dd HH:mm}Z\nhost: {alert.Host}";

    internal static string SlackText(Alert alert, bool resolved) => resolved
        ? $":white_check_mark: Resolved: *{alert.Title}*\n{alert.Text}\nhost `{alert.Host}`"
        : $"{(alert.Severity == AlertSeverity.Critical ? "<!channel> :rotating_light: *CRITICAL*" : "<!here> :warning: *WARNING*")} " +
          $"*{alert.Title}*\n{alert.Text}\nsince {alert.Since:yyyy-MM-dd HH:mm}Z · host `{alert.Host}`";

    private sealed record SlackMessage(string text);

    private static string Secret(string source, string channel, string what) =>
        SecretResolver.ResolveSource(source, $"Alert channel '{channel}'", what);

    private static async Task PostJsonAsync(string url, string channel, HttpContent content, AuthenticationHeaderValue? auth, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        request.Headers.Authorization = auth;
        await SendHttpAsync(request, channel, ct);
    }

    private static async Task SendHttpAsync(HttpRequestMessage request, string channel, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await Http.SendAsync(request, ct); }
        catch (HttpRequestException e)
        {
            // The URL of a webhook is a secret: name the host only.
            throw new AlertDeliveryException($"Alert channel '{channel}': {request.RequestUri?.Host} could not be reached ({e.Message.Split(" (")[0]}).");
        }
        using (response)
        {
            if (response.IsSuccessStatusCode) return;
            var body = await response.Content.ReadAsStringAsync(ct);
            throw new AlertDeliveryException(
                $"Alert channel '{channel}': {request.RequestUri?.Host} answered HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}");
        }
    }

    private static async Task TwilioAsync(TwilioChannel t, Alert alert, bool resolved, CancellationToken ct)
    {
        var token = Secret(t.AuthTokenSource, t.Name, "auth token");
        var auth = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{t.AccountSid}:{token}")));
        var text = PlainText(alert, resolved);
        foreach (var to in t.To)
        {
            var form = t.Name == "phone"
                ? new Dictionary<string, string> { ["To"] = to, ["From"] = t.From, ["Twiml"] = $"<Response><Say>{SecurityElement.Escape(text.Replace('\n', ' '))}</Say></Response>" }
                : new Dictionary<string, string> { ["To"] = to, ["From"] = t.From, ["Body"] = text };
            using var request = new HttpRequestMessage(HttpMethod.Post,
                $"{t.ApiBase}/2010-04-01/Accounts/{Uri.EscapeDataString(t.AccountSid)}/{(t.Name == "phone" ? "Calls" : "Messages")}.json")
            { Content = new FormUrlEncodedContent(form) };
            request.Headers.Authorization = auth;
            await SendHttpAsync(request, t.Name, ct);
        }
    }

    private static async Task EmailAsync(EmailChannel e, Alert alert, bool resolved, CancellationToken ct)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(e.From));
        foreach (var to in e.To) message.To.Add(MailboxAddress.Parse(to));
        message.Subject = resolved ? $"[BackupTools] RESOLVED: {alert.Title}" : $"[BackupTools] {alert.Severity.ToString().ToUpperInvariant()}: {alert.Title}";
        message.Body = new TextPart("plain") { Text = PlainText(alert, resolved) + "\n" };
        using var smtp = new SmtpClient();
        try
        {
            var security = e.Security switch { "ssl" => SecureSocketOptions.SslOnConnect, "none" => SecureSocketOptions.None, _ => SecureSocketOptions.StartTls };
            await smtp.ConnectAsync(e.Host, e.Port, security, ct);
            if (e.User is not null)
                await smtp.AuthenticateAsync(e.User, e.PasswordSource is null ? "" : Secret(e.PasswordSource, "email", "password"), ct);
            await smtp.SendAsync(message, ct);
            await smtp.DisconnectAsync(quit: true, ct);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or MailKit.ProtocolException or MailKit.CommandException or SslHandshakeException or AuthenticationException)
        {
            throw new AlertDeliveryException($"Alert channel 'email': {e.Host}:{e.Port} did not take the message: {ex.Message}", ex);
        }
    }
}
